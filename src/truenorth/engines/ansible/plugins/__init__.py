"""Ansible plugins truenorth ships: this folder is put on ``ANSIBLE_CALLBACK_PLUGINS``.

Ansible loads the files here itself (by path, not by import); the package marker only
makes sure they are installed with truenorth.
"""

__all__: list[str] = []
