"""Public examples nobody here wrote, planned and applied through the CLI like a user would.

The examples live in ``tests/data/realworld/`` with their licences and a README saying
where each came from and what was adapted. Each test commits one into a real git
repository, runs ``truenorth render|plan|apply`` (Kubernetes against the API test
server, Terraform and Ansible for real), pins the text plan with a snapshot
(``tests/data/snapshots/realworld-*.txt``, ``TRUENORTH_UPDATE_SNAPSHOTS=1`` rewrites
them) and checks it against the native tool run on the same files: ``kubectl
kustomize`` (the same objects, byte for byte), ``terraform show`` of a plan made by
``terraform`` itself, and ``ansible-playbook --check --diff`` (every task the native run
reports changed, per host and loop item, is in truenorth's plan).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.cli.conftest import Invoke, Result, data_dir, invoke  # noqa: F401
from tests.support import snapshots
from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer
from truenorth.cli import main

pytestmark = [pytest.mark.slow]

REALWORLD = Path(__file__).resolve().parents[1] / "data" / "realworld"
KUSTOMIZE = REALWORLD / "kustomize-components"
TERRAFORM = REALWORLD / "terraform-managed-data"
ANSIBLE = REALWORLD / "ansible-munin-node"
#: What stands for a test's temporary folder in snapshots.
TMP = "<tmp>"
#: How ``truenorth render`` prints a Secret's value.
MASK = "(sensitive value)"


def _files(root: Path, *, under: str = "") -> dict[str, bytes]:
    """Every file below ``root`` (licence included), keyed by its path under ``under``."""
    prefix = f"{under}/" if under else ""
    return {
        f"{prefix}{p.relative_to(root).as_posix()}": p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _repo(tmp_path: Path, example: Path, spec: dict[str, object], *, under: str) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        f"vendored {example.name}", {"truenorth.yaml": yaml.safe_dump(spec), **_files(example, under=under)}
    )
    return repo


def _cli(data: Path) -> Invoke:
    """The CLI run in-process on the data dir ``data`` (the ``invoke`` fixture, for a module fixture)."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        outcome = runner.invoke(main.app, [*args, "--data-dir", str(data)], catch_exceptions=False)
        return Result(outcome.exit_code, outcome.stdout, outcome.stderr)

    return run


_COMMIT = re.compile(r"(?m)^(file://\S+ @ \S+ -> )[0-9a-f]{12} ")


def _without_tmp(text: str, tmp_path: Path) -> str:
    """``text`` without what changes from run to run: the temporary folder, the commit."""
    return _COMMIT.sub(r"\1<commit> ", text.replace(str(tmp_path), TMP))


# --- Kustomize: an overlay made of components -------------------------------------------

NS = "shop"
OVERLAYS = ("community", "enterprise", "dev")


def _kustomize_spec(overlay: str) -> dict[str, object]:
    return {
        "version": 1,
        "stacks": [
            {
                "name": "web",
                "engine": "kubernetes",
                "path": f"app/overlays/{overlay}",
                "target": "test",
                "namespace": NS,
                "create_namespace": True,
            }
        ],
    }


@pytest.fixture
def kubeapi() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as api:
        yield api


def _native_kustomize(overlay: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["kubectl", "kustomize", "--", str(KUSTOMIZE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return list(yaml.safe_load_all(done.stdout))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kustomize_components_render_as_kubectl_does(
    tmp_path: Path,
    invoke: Invoke,  # noqa: F811
    overlay: str,
) -> None:
    repo = _repo(tmp_path, KUSTOMIZE, _kustomize_spec(overlay), under="app")
    rendered = invoke("render", str(repo.path), "--stack", "web")
    assert rendered.exit_code == 0, rendered.stdout + rendered.stderr
    ours = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    native = _native_kustomize(overlay)
    # truenorth puts namespaced objects in the stack's namespace and masks Secret
    # values (render prints them masked); nothing else may differ.
    for doc in native:
        doc.setdefault("metadata", {})["namespace"] = NS
        if doc["kind"] == "Secret":
            doc["data"] = dict.fromkeys(doc["data"], MASK)
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731
    assert [yaml.safe_dump(d, sort_keys=True) for d in sorted(ours, key=key)] == [
        yaml.safe_dump(d, sort_keys=True) for d in sorted(native, key=key)
    ]


def test_kustomize_components_plan_apply_and_converge(
    tmp_path: Path,
    invoke: Invoke,  # noqa: F811
    kubeapi: KubeAPIServer,
) -> None:
    repo = _repo(tmp_path, KUSTOMIZE, _kustomize_spec("enterprise"), under="app")
    kubeconfig = str(kubeapi.kubeconfig(tmp_path / "kubeconfig"))
    planned = invoke("plan", str(repo.path), "--kubeconfig", kubeconfig)
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    snapshots.check("realworld-kustomize-plan", _without_tmp(planned.stdout, tmp_path))
    as_json = invoke("plan", str(repo.path), "-o", "json", "--kubeconfig", kubeconfig)
    assert as_json.exit_code == 2
    changes = json.loads(as_json.stdout)["stacks"][0]["changes"]
    assert {c["action"] for c in changes} == {"create"}
    assert len(changes) == 1 + len(_native_kustomize("enterprise"))
    encoded = [
        v for d in _native_kustomize("enterprise") if d["kind"] == "Secret" for v in d["data"].values()
    ]
    assert not any(value in as_json.stdout + planned.stdout for value in encoded)

    applied = invoke("apply", str(repo.path), "--yes", "--kubeconfig", kubeconfig)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    live = kubeapi.object("apps/v1", "Deployment", "example", NS)
    assert live is not None
    mounts = [m["name"] for m in live["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]]
    assert mounts == ["ldappass", "dbpass", "conf"]

    again = invoke("plan", str(repo.path), "--kubeconfig", kubeconfig)
    assert again.exit_code == 0, again.stdout + again.stderr


def test_kustomize_plan_names_every_object_kubectl_renders(
    tmp_path: Path,
    invoke: Invoke,  # noqa: F811
    kubeapi: KubeAPIServer,
) -> None:
    """The component's Secret values (``dbpass``, ``ldappass``) are also the Secrets' names:
    masking the values must leave the objects' names, and the diff's lines, intact."""
    repo = _repo(tmp_path, KUSTOMIZE, _kustomize_spec("enterprise"), under="app")
    kubeconfig = str(kubeapi.kubeconfig(tmp_path / "kubeconfig"))
    planned = invoke("plan", str(repo.path), "--kubeconfig", kubeconfig)
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    for doc in _native_kustomize("enterprise"):
        kind, name = doc["kind"], doc["metadata"]["name"]
        assert f"/{kind}/{NS}/{name}\n" in planned.stdout, f"{kind} {name} is not named in the plan"
    assert "          name: ldappass\n" in planned.stdout


# --- Terraform: only the built-in terraform_data ----------------------------------------


def _terraform_spec() -> dict[str, object]:
    return {"version": 1, "stacks": [{"name": "data", "engine": "terraform", "path": "stacks/data"}]}


def _native_show(tmp_path: Path) -> str:
    """``terraform show`` of a plan ``terraform`` itself made of the vendored files."""
    work = tmp_path / "native"
    shutil.copytree(TERRAFORM, work)
    for argv in (
        ["terraform", "init", "-input=false", "-no-color"],
        ["terraform", "plan", "-input=false", "-no-color", "-out=plan.tfplan"],
    ):
        subprocess.run(argv, cwd=work, capture_output=True, check=True, timeout=300)
    done = subprocess.run(
        ["terraform", "show", "-no-color", "plan.tfplan"],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout


def test_terraform_data_module_plans_like_terraform_show_and_applies(
    tmp_path: Path,
    invoke: Invoke,  # noqa: F811
) -> None:
    repo = _repo(tmp_path, TERRAFORM, _terraform_spec(), under="stacks/data")
    planned = invoke("plan", str(repo.path))
    assert planned.exit_code == 2, planned.stdout + planned.stderr
    snapshots.check("realworld-terraform-plan", _without_tmp(planned.stdout, tmp_path))
    # The stack's block is Terraform's own text, indented by two spaces.
    block = planned.stdout.split("── data ──\n", 1)[1].rsplit("\n1 stacks,", 1)[0]
    assert "\n".join(line[2:] for line in block.splitlines()).strip() == _native_show(tmp_path).strip()

    as_json = invoke("plan", str(repo.path), "-o", "json")
    stack = json.loads(as_json.stdout)["stacks"][0]
    assert sorted(c["address"] for c in stack["changes"]) == ["output.d"] + [
        f"terraform_data.{n}" for n in "abcd"
    ]
    assert {c["action"] for c in stack["changes"]} == {"create"}

    applied = invoke("apply", str(repo.path), "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    again = invoke("plan", str(repo.path))
    assert again.exit_code == 0, again.stdout + again.stderr


# --- Ansible: a role with handlers and a loop ---------------------------------------------


def _munin_root(tmp_path: Path) -> Path:
    """What the munin-node package would have installed: the folders and two plugins."""
    root = tmp_path / "munin"
    for folder in (
        "etc/munin/plugins",
        "etc/munin/plugin-conf.d",
        "usr/share/munin/plugins",
        "var/run/munin",
    ):
        (root / folder).mkdir(parents=True)
    for plugin in ("uptime", "if_"):
        (root / "usr/share/munin/plugins" / plugin).write_text("#!/bin/sh\n")
    return root


def _munin_vars(root: Path) -> dict[str, str]:
    return {
        "munin_root": str(root),
        "munin_plugin_src_path": f"{root}/usr/share/munin/plugins/",
        "munin_plugin_dest_path": f"{root}/etc/munin/plugins/",
    }


def _ansible_spec(root: Path) -> dict[str, object]:
    return {
        "version": 1,
        "stacks": [
            {
                "name": "munin",
                "engine": "ansible",
                "path": "ansible",
                "playbook": "site.yml",
                "inventory": "inventory.yml",
                "extra_vars": _munin_vars(root),
            }
        ],
    }


#: A task heading as ``ansible-playbook`` prints it: ``TASK [role : name]``.
_TASK = re.compile(r"^(?:RUNNING HANDLER|TASK) \[(?P<name>[^\]]+)\]")
_CHANGED = re.compile(r"^changed: \[(?P<host>[^\]]+)\](?: => \(item=(?P<item>.*)\))?$")
_ITEM_NAME = re.compile(r"'name': '(?P<name>[^']+)'")
#: What ``ansible-playbook --check --diff`` reports changed on the vendored role, first run.
NATIVE_CHANGES = [
    ("munin-node : Copy munin-node configuration.", "localhost", None),
    ("munin-node : Generate plugin configuration.", "localhost", None),
    ("munin-node : Enable additional plugins.", "localhost", "uptime"),
    ("munin-node : Enable additional plugins.", "localhost", "if_eth1"),
    ("munin-node : restart munin-node", "localhost", None),
]


def _native_check(root: Path) -> list[tuple[str, str, str | None]]:
    """(task, host, loop item name) for each change ``ansible-playbook --check --diff`` reports."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "inventory.yml",
            "site.yml",
            "--check",
            "--diff",
            "-e",
            json.dumps(_munin_vars(root)),
        ],
        cwd=ANSIBLE,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "ANSIBLE_NOCOLOR": "1", "HOME": str(root.parent)},
        check=True,
    )
    found: list[tuple[str, str, str | None]] = []
    task = ""
    for line in done.stdout.splitlines():
        if heading := _TASK.match(line):
            task = heading["name"]
        elif changed := _CHANGED.match(line):
            item = _ITEM_NAME.search(changed["item"] or "")
            found.append((task, changed["host"], item["name"] if item else None))
    return found


@dataclass(frozen=True)
class MuninPlan:
    """The vendored role planned once: where it writes, the repository, both plans."""

    tmp: Path
    root: Path
    repo: GitRepo
    native: list[tuple[str, str, str | None]]
    text: Result
    document: Result

    @property
    def changes(self) -> list[dict[str, Any]]:
        changes: list[dict[str, Any]] = json.loads(self.document.stdout)["stacks"][0]["changes"]
        return changes


@pytest.fixture(scope="module")
def munin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MuninPlan]:
    """The role planned (text and JSON) and checked natively, before any test applies it."""
    tmp = tmp_path_factory.mktemp("munin")
    root = _munin_root(tmp)
    with pytest.MonkeyPatch.context() as patch:
        # What the suite's autouse fixture sets for each test, for this module fixture too.
        for key in [k for k in os.environ if k.startswith("TRUENORTH_")]:
            patch.delenv(key)
        patch.setenv("GIT_CONFIG_GLOBAL", str(tmp / "gitconfig"))
        patch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for who in ("AUTHOR", "COMMITTER"):
            patch.setenv(f"GIT_{who}_NAME", "Test Author")
            patch.setenv(f"GIT_{who}_EMAIL", "author@example.test")
        patch.setenv("TRUENORTH_SANDBOX_WRITABLE", str(root))
        repo = _repo(tmp, ANSIBLE, _ansible_spec(root), under="ansible")
        run = _cli(tmp / "data")
        native = _native_check(root)
        text = run("plan", str(repo.path))
        document = run("plan", str(repo.path), "-o", "json")
        yield MuninPlan(tmp=tmp, root=root, repo=repo, native=native, text=text, document=document)


def test_ansible_role_plan_shows_every_change_ansible_check_shows(munin: MuninPlan) -> None:
    assert munin.native == NATIVE_CHANGES
    assert munin.text.exit_code == 2, munin.text.stdout + munin.text.stderr
    snapshots.check("realworld-ansible-plan", _without_tmp(munin.text.stdout, munin.tmp))
    assert munin.document.exit_code == 2, munin.document.stdout + munin.document.stderr
    ours = {(c["task"], c["host"]) for c in munin.changes if c["action"] != "no-op"}
    for task, host, _item in munin.native:
        assert (task, host) in ours, f"{task} on {host}: shown by ansible-playbook --check, not by truenorth"
        assert f"# {host}: {task}" in munin.text.stdout


def test_ansible_role_new_files_read_as_created(munin: MuninPlan) -> None:
    created = {c["task"]: c["action"] for c in munin.changes}
    assert created["munin-node : Copy munin-node configuration."] == "create"
    assert "# localhost: munin-node : Copy munin-node configuration. will be created" in munin.text.stdout


def test_ansible_role_loop_items_are_named(munin: MuninPlan) -> None:
    for task, host, item in munin.native:
        if item is not None:
            assert f"# {host}: {task} ({item}) will be" in munin.text.stdout, item


def test_ansible_role_applies_runs_its_handler_and_converges(
    munin: MuninPlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUENORTH_SANDBOX_WRITABLE", str(munin.root))
    run = _cli(munin.tmp / "data")
    applied = run("apply", str(munin.repo.path), "--yes")
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    root = munin.root
    conf = (root / "etc/munin/munin-node.conf").read_text()
    assert "allow ^127\\.0\\.0\\.1$" in conf and "port 4949" in conf
    assert (
        root / "etc/munin/plugin-conf.d/ansible.conf"
    ).read_text() == "[ps_test]\nenv.regex bash\nenv.name bash\n\n"
    assert (root / "etc/munin/plugins/if_eth1").resolve() == root / "usr/share/munin/plugins/if_"
    assert (root / "var/run/munin/restarted").is_file(), "the handler did not run"
    again = run("plan", str(munin.repo.path))
    assert again.exit_code == 0, again.stdout + again.stderr
