"""Re-record the job event fixtures of the Ansible engine from real runs.

Run from the repository root: ``.venv/bin/python -m tests.data.ansible.record``. It runs
the real engine (ansible-runner, local hosts and one SSH host nobody listens on) on the
playbooks next to this file and writes the redacted ``job_events.jsonl`` and
``notes.jsonl`` of each run here, with the temporary paths replaced by ``/recorded``.
The pure readers' tests (``tests/engines/ansible/test_readers.py``) replay them.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import yaml

from truenorth.core import redaction, specs
from truenorth.engines import protocol
from truenorth.engines.ansible import AnsibleEngine

__all__ = ["main"]

HERE = Path(__file__).resolve().parent


def _local(base: Path, name: str) -> dict[str, object]:
    return {
        "ansible_connection": "local",
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "base_dir": str(base / name),
    }


def _record(name: str, hosts: dict[str, dict[str, object]], root: Path, *, apply: bool) -> None:
    checkout = root / "checkout"
    shutil.copytree(HERE / name, checkout / "stack")
    (checkout / "stack" / "inventory.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    spec = specs.StackSpec(
        name=name, engine="ansible", path="stack", options=specs.AnsibleOptions(inventory="inventory.yml")
    )

    def ctx(label: str) -> protocol.StackContext:
        return protocol.StackContext(
            stack=spec,
            checkout=checkout,
            revision="0" * 40,
            run_dir=root / "runs" / label,
            state_dir=root / "state",
            cache_dir=root / "cache",
            redactor=redaction.Redactor(),
        )

    engine = AnsibleEngine()
    plan = engine.plan(ctx("plan"))
    label = "plan"
    if apply:
        engine.apply(ctx("apply"), plan)
        label = "apply"
    artifacts = root / "runs" / label / "artifacts" / label
    for part in ("job_events.jsonl", "notes.jsonl"):
        text = (artifacts / part).read_text().replace(str(root), "/recorded")
        (HERE / name / part).write_text(text)


def main() -> None:
    """Record both fixtures."""
    with tempfile.TemporaryDirectory(prefix="tn-record-") as tmp:
        root = Path(tmp) / "semantics"
        base = root / "hosts"
        for name in ("web1", "web2"):
            (base / name).mkdir(parents=True)
        _record(
            "check_semantics", {"web1": _local(base, "web1"), "web2": _local(base, "web2")}, root, apply=False
        )
    with tempfile.TemporaryDirectory(prefix="tn-record-") as tmp:
        root = Path(tmp) / "partial"
        base = root / "hosts"
        (base / "web1").mkdir(parents=True)
        (base / "web1" / "marker").write_text("here\n")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        gone = {
            "ansible_host": "127.0.0.1",
            "ansible_port": port,
            "ansible_user": "root",
            "ansible_ssh_common_args": "-F /dev/null -o StrictHostKeyChecking=yes -o ConnectTimeout=3",
            "base_dir": str(base / "gone"),
        }
        _record(
            "apply_partial",
            {"web1": _local(base, "web1"), "web2": _local(base, "web2"), "gone": gone},
            root,
            apply=True,
        )


if __name__ == "__main__":
    main()
