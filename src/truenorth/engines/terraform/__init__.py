"""The Terraform/OpenTofu engine: real ``terraform`` driven through the engine protocol.

Modules: :mod:`.engine` (:class:`TerraformEngine`, the entry point), :mod:`.preparing`
(checks, working copy, init, workspace), :mod:`.invoking` (running one command with a
deadline and redaction), :mod:`.workdirs` (the writable copy of a read-only checkout),
:mod:`.configs` (backend detection, CLI config, environment, argv), :mod:`.plans`
(``show -json`` into normalized changes; pure), :mod:`.states` (what is read from state),
:mod:`.staleness` (fingerprints and stale-plan checks; pure), :mod:`.inputs` (other
stacks' outputs as ``TF_VAR_`` variables, checked against the declarations; pure),
:mod:`.outputs` (root outputs after apply and as planned; pure), :mod:`.renderings`
(Terraform's own text of a plan, kept as the plan's text; pure), :mod:`.binaries`
(finding and vetting the executable) and :mod:`.versions` (``version -json``; pure).
"""

from __future__ import annotations

from truenorth.engines.terraform.engine import TerraformEngine

__all__ = ["TerraformEngine"]
