"""Re-record the plan runs of ``tests/core/test_meanings.py`` from real engines, as the store keeps them.

Run from the repository root: ``.venv/bin/python -m tests.data.plans.record``. For each
engine (Terraform, Ansible, Kubernetes against the API test server) it applies v1 of a
small stack from data dir ``a``, then plans v2 from data dir ``a`` and from data dir
``b`` (two replicas: other checkouts, run dirs, plan files, holders, times), changes
one attribute of the live system out of band, and plans v2 from ``b`` again. Each plan
run is written as the store recorded it (``revision``, ``summary``, ``changes``) to
``<engine>-a.json``, ``<engine>-b.json`` and ``<engine>-changed.json``, with the
temporary folder replaced by ``/recorded``. The targets (Terraform's state file,
Ansible's managed files, the cluster) are outside both data dirs and shared, as
replicas share them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer

from truenorth.controller.runs import executing, registry, runtime, validating
from truenorth.core import specs
from truenorth.engines import sandbox as sandboxing

__all__ = ["main"]

HERE = Path(__file__).resolve().parent

TERRAFORM = """\
terraform {{
  backend "local" {{
    path = "{state}"
  }}
}}

resource "terraform_data" "network" {{
  input = {{ cidr = "10.0.0.0/16", name = "{name}" }}
}}

resource "terraform_data" "subnet" {{
  input = {{ cidr = "{subnet}", zone = "a" }}
}}

output "network_name" {{
  value = terraform_data.network.output.name
}}
"""

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: greeting
      ansible.builtin.copy:
        dest: "{{{{ target }}}}/motd"
        content: "{greeting}\\n"
    - name: port
      ansible.builtin.lineinfile:
        path: "{{{{ target }}}}/app.conf"
        line: "port={port}"
        create: true
"""

CONFIG_MAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data:
  greeting: {greeting}
  colour: blue
"""

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"


def _record(rt: runtime.Runtime, repo: GitRepo, stack: str, *, apply: bool = False) -> dict[str, Any]:
    revision = rt.sources.checkout(repo.url, ref=None)
    spec = validating.validate_checkout(revision.checkout).stack(stack)
    planned = executing.plan_stack(rt, revision, spec)
    assert planned.plan is not None, planned.result.error
    if apply:
        applied = executing.apply_stack(rt, revision, spec, planned.plan, plan_run_id=planned.run_id)
        assert applied.result.ok, applied.result.error
    run = rt.store.get_run(planned.run_id)
    assert run is not None
    return {"revision": run.revision, "summary": run.summary, "changes": run.changes}


def _replicas(
    root: Path, engines: registry.EngineRegistry, clusters: Callable[[specs.StackSpec], Mapping[str, str]]
) -> tuple[runtime.Runtime, runtime.Runtime]:
    off = sandboxing.Policy(mode=sandboxing.Mode.OFF)
    found = tuple(
        runtime.open_runtime(
            root / name,
            engines=engines,
            clusters=clusters,
            sandbox=lambda key: off,
            limits=sandboxing.Limits(),
        )
        for name in ("a", "b")
    )
    return found[0], found[1]


def _write(engine: str, tmp: Path, records: Mapping[str, dict[str, Any]]) -> None:
    for label, record in records.items():
        text = json.dumps(record, indent=1, sort_keys=True).replace(str(tmp), "/recorded")
        (HERE / f"{engine}-{label}.json").write_text(text + "\n")


def _terraform(tmp: Path) -> None:
    shared = tmp / "shared"
    shared.mkdir()
    state = shared / "terraform.tfstate"
    repo = GitRepo(tmp / "repo-terraform")
    spec = "stacks:\n  - name: network\n    engine: terraform\n    path: network\n"

    def files(name: str) -> dict[str, str]:
        text = TERRAFORM.format(state=state, name=name, subnet="10.0.1.0/24")
        return {"truenorth.yaml": spec, "network/main.tf": text}

    a, b = _replicas(tmp / "terraform", registry.EngineRegistry(), lambda stack: {})
    repo.commit("v1", files("main"))
    _record(a, repo, "network", apply=True)
    repo.commit("v2", files("main-v2"))
    records = {"a": _record(a, repo, "network"), "b": _record(b, repo, "network")}
    # Out of band: the subnet's zone changed in the live state (as a console edit would).
    data = json.loads(state.read_text())
    for resource in data["resources"]:
        if resource["name"] == "subnet":
            resource["instances"][0]["attributes"]["input"]["value"]["zone"] = "b"
            resource["instances"][0]["attributes"]["output"]["value"]["zone"] = "b"
    data["serial"] += 1
    state.write_text(json.dumps(data))
    records["changed"] = _record(b, repo, "network")
    _write("terraform", tmp, records)


def _ansible(tmp: Path) -> None:
    target = tmp / "managed"
    target.mkdir()
    inventory = {
        "all": {
            "hosts": {
                "web1": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                    "target": str(target),
                }
            }
        }
    }
    spec = "stacks:\n  - name: web\n    engine: ansible\n    path: web\n    inventory: inventory.yml\n"
    repo = GitRepo(tmp / "repo-ansible")

    def files(greeting: str, port: int) -> dict[str, str]:
        return {
            "truenorth.yaml": spec,
            "web/site.yml": PLAYBOOK.format(greeting=greeting, port=port),
            "web/inventory.yml": yaml.safe_dump(inventory),
        }

    a, b = _replicas(tmp / "ansible", registry.EngineRegistry(), lambda stack: {})
    repo.commit("v1", files("hello", 8080))
    _record(a, repo, "web", apply=True)
    repo.commit("v2", files("hello again", 8081))
    records = {"a": _record(a, repo, "web"), "b": _record(b, repo, "web")}
    (target / "motd").write_text("edited by hand\n")  # out of band
    records["changed"] = _record(b, repo, "web")
    _write("ansible", tmp, records)


def _kubernetes(tmp: Path) -> None:
    spec = (
        "stacks:\n  - name: web\n    engine: kubernetes\n    path: k8s\n    target: demo\n"
        "    namespace: shop\n    wait: false\n"
    )
    repo = GitRepo(tmp / "repo-kubernetes")

    def files(greeting: str) -> dict[str, str]:
        return {
            "truenorth.yaml": spec,
            "k8s/namespace.yaml": NAMESPACE,
            "k8s/config.yaml": CONFIG_MAP.format(greeting=greeting),
        }

    with KubeAPIServer() as api:
        kubeconfig = api.kubeconfig(tmp / "kubeconfig")
        a, b = _replicas(
            tmp / "kubernetes", registry.EngineRegistry(), lambda stack: {"kubeconfig": str(kubeconfig)}
        )
        repo.commit("v1", files("hello"))
        _record(a, repo, "web", apply=True)
        repo.commit("v2", files("hello-again"))
        records = {"a": _record(a, repo, "web"), "b": _record(b, repo, "web")}
        api.edit(
            "v1", "ConfigMap", "web-config", {"data": {"colour": "red"}}, namespace="shop"
        )  # out of band
        records["changed"] = _record(b, repo, "web")
    _write("kubernetes", tmp, records)


def main() -> None:
    """Record the three engines' plan runs."""
    for record in (_terraform, _ansible, _kubernetes):
        with tempfile.TemporaryDirectory(prefix="tn-record-") as tmp:
            record(Path(tmp))


if __name__ == "__main__":
    main()
