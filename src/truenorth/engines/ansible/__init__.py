"""The Ansible engine: ``engine: ansible`` stacks planned in check mode and run per host.

Only :class:`AnsibleEngine` is public; the modules behind it are split by concern:
:mod:`.inputs` (checked inputs, the stack's ``inputs:`` as extra vars), :mod:`.paths`
(confinement), :mod:`.vaults` (vault plaintext to mask), :mod:`.running`
(ansible-runner), and the pure readers :mod:`.events`, :mod:`.checks`, :mod:`.diffs`,
:mod:`.recaps` and :mod:`.stats` (``set_stats`` data as the stack's outputs).
"""

from truenorth.engines.ansible.engine import AnsibleEngine

__all__ = ["AnsibleEngine"]
