"""The sandbox settings end to end: configuration, the controller's view, recorded runs.

``sandbox``, ``[limits]`` and each repository's allowances are parsed (bad values named),
reach the engine through the stack's context, show in ``/readyz`` details and the log,
and every run records whether it was sandboxed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth import config
from truenorth.config import sandboxes
from truenorth.controller.actions import facade
from truenorth.controller.runs import executing, runtime
from truenorth.engines import sandbox

FILE = """\
sandbox = "required"

[limits]
cpu = "30m"
memory = "2GiB"
output = "64MiB"
tmp = "256MiB"

[[repositories]]
name = "infra"
url = "https://git.example.com/org/infra.git"
deny_network_for_plans = true
trust_ansible_cfg = true
allow_inventory_scripts = true
sandbox_read_only = ["/etc/truenorth/ssh/id_ed25519"]
sandbox_writable = ["/srv/app"]

[[repositories]]
name = "plain"
url = "https://git.example.com/org/plain.git"
"""


def load(tmp_path: Path, text: str, **environ: str) -> config.ControllerConfig:
    path = tmp_path / "truenorth.toml"
    path.write_text(text)
    return config.load_config(path, environ=environ)


def test_the_settings_are_read_and_default_to_auto(tmp_path: Path) -> None:
    loaded = load(tmp_path, FILE)
    assert loaded.sandbox is sandbox.Mode.REQUIRED
    assert loaded.limits == sandbox.Limits(
        cpu_seconds=1800, memory_bytes=2 << 30, output_bytes=64 << 20, tmp_bytes=256 << 20
    )
    infra, plain = loaded.repositories
    assert infra.sandbox == sandbox.Policy(
        plan_network=False,
        trust_ansible_cfg=True,
        allow_inventory_scripts=True,
        read_only=(Path("/etc/truenorth/ssh/id_ed25519"),),
        writable=(Path("/srv/app"),),
    )
    assert plain.sandbox == sandbox.Policy()
    assert config.ControllerConfig().sandbox is sandbox.Mode.AUTO
    assert load(tmp_path, "", TRUENORTH_SANDBOX="off").sandbox is sandbox.Mode.OFF
    unlimited = load(tmp_path, '[limits]\ncpu = "off"\nmemory = "off"\n')
    assert unlimited.limits.cpu_seconds is None and unlimited.limits.memory_bytes is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('sandbox = "maybe"', 'sandbox: must be "required", "auto" or "off"'),
        ('[limits]\nmemory = "lots"', "limits.memory: must be a size"),
        ("[limits]\noutput = 10", "limits.output: must be between 1KiB and 1PiB"),
        ('[limits]\nnetwork = "off"', r"limits: unknown setting\(s\): network"),
        (
            '[[repositories]]\nname = "a"\nurl = "/srv/git/a"\nsandbox_writable = ["srv/app"]',
            r"repositories\[0\].sandbox_writable\[0\]: must be an absolute path",
        ),
        (
            '[[repositories]]\nname = "a"\nurl = "/srv/git/a"\nsandbox_read_only = ["/"]',
            "the whole file system cannot be allowed",
        ),
        (
            '[[repositories]]\nname = "a"\nurl = "/srv/git/a"\ntrust_ansible_cfg = "yes"',
            "trust_ansible_cfg: must be true or false",
        ),
    ],
)
def test_bad_values_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(config.ConfigError, match=message):
        load(tmp_path, text + "\n")


def test_the_local_commands_and_the_quick_start_read_the_environment() -> None:
    environ = {
        "TRUENORTH_SANDBOX": "required",
        "TRUENORTH_LIMIT_MEMORY": "1GiB",
        "TRUENORTH_DENY_NETWORK_FOR_PLANS": "true",
        "TRUENORTH_SANDBOX_WRITABLE": "/srv/a:/srv/b",
    }
    policy, limits = sandboxes.from_environment(environ)
    assert policy.mode is sandbox.Mode.REQUIRED and not policy.plan_network
    assert policy.writable == (Path("/srv/a"), Path("/srv/b")) and limits.memory_bytes == 1 << 30
    quick = config.load_config(None, environ=environ, overrides={"repo": "/srv/git/infra"})
    assert quick.repositories[0].sandbox.writable == (Path("/srv/a"), Path("/srv/b"))
    with pytest.raises(config.ConfigError, match="TRUENORTH_TRUST_ANSIBLE_CFG: must be true or false"):
        sandboxes.from_environment({"TRUENORTH_TRUST_ANSIBLE_CFG": "maybe"})


def test_each_repository_gets_its_allowances_under_the_controllers_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit("empty", {"truenorth.yaml": "stacks: []\n"})
    allowed = sandbox.Policy(writable=(tmp_path / "hosts",), trust_ansible_cfg=True)
    settings = config.ControllerConfig(
        repositories=(config.RepositoryConfig(name="infra", url=repo.url, sandbox=allowed),),
        data_dir=tmp_path / "data",
        sandbox=sandbox.Mode.OFF,
        limits=sandbox.Limits(output_bytes=1 << 20),
    )
    with caplog.at_level(logging.WARNING):
        ctl = facade.Controller(settings)
    try:
        assert "sandbox = off: engine programs run repository code UNCONFINED" in caplog.text
        revision = ctl.runtime.sources.checkout(repo.url)
        policy = ctl.runtime.sandbox(revision.key)
        assert policy.mode is sandbox.Mode.OFF and policy.trust_ansible_cfg
        assert policy.writable == (tmp_path / "hosts",)
        assert ctl.runtime.sandbox("elsewhere#main") == sandbox.Policy(mode=sandbox.Mode.OFF)
        assert ctl.runtime.limits.output_bytes == 1 << 20
        assert ctl.sandbox_status() == {"mode": "off", "engines": "unconfined (sandbox = off)"}
    finally:
        ctl.runtime.close()


@pytest.mark.slow
@pytest.mark.usefixtures("bwrap")
def test_every_run_records_whether_it_was_sandboxed(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "one stack",
        {
            "truenorth.yaml": "stacks:\n  - {name: one, engine: terraform, path: one}\n",
            "one/main.tf": 'resource "terraform_data" "x" { input = "one" }\n',
        },
    )
    rt = runtime.open_runtime(
        tmp_path / "data", sandbox=lambda key: sandbox.Policy(), limits=sandbox.Limits()
    )
    try:
        revision = rt.sources.checkout(repo.url)
        stack = validating_stack(revision.checkout)
        planned = executing.plan_stack(rt, revision, stack)
        assert planned.plan is not None, planned.result.error
        applied = executing.apply_stack(rt, revision, stack, planned.plan, plan_run_id=planned.run_id)
        assert applied.result.ok, applied.result.error
        plan_run, apply_run = rt.store.get_run(planned.run_id), rt.store.get_run(applied.run_id)
        assert plan_run is not None and apply_run is not None
        assert plan_run.summary["meta"]["sandbox"] == "bubblewrap"
        assert apply_run.summary["meta"]["apply_sandbox"] == "bubblewrap"
    finally:
        rt.close()


def validating_stack(checkout: Path) -> object:
    from truenorth.core import specs

    return specs.parse_spec((checkout / "truenorth.yaml").read_text()).stack("one")


def test_readyz_details_say_how_engines_run(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from truenorth.server import app as server_app

    settings = config.ControllerConfig(data_dir=tmp_path / "data", sandbox=sandbox.Mode.REQUIRED)
    ctl = facade.Controller(settings)
    try:
        with TestClient(server_app.create_app(ctl, settings)) as client:
            body = client.get("/readyz").json()
        assert body["sandbox"]["mode"] == "required"
        expected = "sandboxed (bubblewrap)" if sandbox.probe().works else "refused"
        assert body["sandbox"]["engines"].startswith(expected)
    finally:
        ctl.runtime.close()
