"""Deciding whether a saved plan may still be applied.

A plan is only applied as it was shown: made from the revision being applied, against
the state as it still is, with the same inputs, from the plan file that was written
for it. :func:`fingerprint` condenses the inputs (revision, state lineage and serial,
workspace, variables, var file contents, the digests of the stack's ``inputs:``) into the plan's fingerprint;
:func:`identity_reason` and :func:`inputs_reason` compare a plan with the present and
say, in words, why it must not be applied. Terraform itself refuses a plan whose state changed ("Saved plan is stale"); this
check comes first so that the reason is clear and nothing is started at all.

Pure: values in, a digest or a reason out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from truenorth.core import plans

__all__ = ["ARTIFACT_DIGEST_KEY", "fingerprint", "identity_reason", "inputs_reason"]

#: ``Plan.meta`` key holding the SHA-256 of the plan file as written.
ARTIFACT_DIGEST_KEY = "artifact_sha256"


def fingerprint(
    *,
    revision: str,
    state: str,
    workspace: str,
    variables: Mapping[str, Any],
    var_files: Sequence[tuple[str, str]],
    inputs: Sequence[tuple[str, str]] = (),
) -> str:
    """SHA-256 of a plan's inputs; ``var_files`` pairs each path with its content digest.

    ``inputs`` pairs each of the stack's ``inputs:`` with its value's digest, in name
    order (left out when there are none, so fingerprints of stacks without inputs stay).
    """
    payload: dict[str, Any] = {
        "revision": revision,
        "state": state,
        "workspace": workspace,
        "vars": variables,
        "var_files": [list(pair) for pair in var_files],
    }
    if inputs:
        payload["inputs"] = [list(pair) for pair in inputs]
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity_reason(plan: plans.Plan, *, stack: str, revision: str) -> str | None:
    """Why ``plan`` is not a plan of ``stack`` at ``revision`` with a plan file, or None."""
    if plan.stack != stack:
        return f"the plan is for stack {plan.stack!r}, not {stack!r}"
    if plan.revision != revision:
        return (
            f"the plan was made for revision {plan.revision[:12]}, not {revision[:12]}; "
            "plan this revision again"
        )
    if not plan.artifact:
        return "the plan has no saved plan file; plan again"
    return None


def inputs_reason(plan: plans.Plan, *, current_fingerprint: str, artifact_digest: str | None) -> str | None:
    """Why ``plan`` no longer matches the present inputs or its plan file, or None.

    ``current_fingerprint`` is :func:`fingerprint` of today's inputs; ``artifact_digest``
    the SHA-256 of the plan file on disk, None when the file is gone.
    """
    if artifact_digest is None:
        return "the saved plan file is gone (already applied, or removed); plan again"
    if current_fingerprint != plan.fingerprint:
        return "the state or the inputs changed since the plan was made; plan again"
    expected = plan.meta.get(ARTIFACT_DIGEST_KEY)
    if expected and expected != artifact_digest:
        return "the saved plan file was replaced by a newer plan of the same revision; plan again"
    return None
