"""Inputs into an Ansible stack (extra vars) and its outputs out (``set_stats``), with real runs.

Inputs reach the playbook as extra vars through a private vars file in the run's folder
that is gone when the run ends; a sensitive input is masked in plans, live lines,
results and everything left under the data dir. What the playbook hands out with
``set_stats`` becomes the outputs of a successful apply (and of a check-mode plan that
predicted every task), a sensitive one masked wherever the run shows it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from tests.engines.ansible.conftest import Lab, everything_under, local_inventory, stack
from truenorth.core import outputs, plans, runs, specs
from truenorth.engines import protocol
from truenorth.engines.ansible import AnsibleEngine, inputs, running

INPUT_CANARY = "INPUT-CANARY-4e9a7c"
OUTPUT_CANARY = "OUTPUT-CANARY-d81f2b"


def _value(name: str, source: str, value: Any, *, sensitive: bool = False) -> outputs.InputValue:
    stack_name, output = source.split(".")
    return outputs.InputValue(
        ref=outputs.InputRef(name=name, stack=stack_name, output=output),
        value=value,
        sensitive=sensitive,
        digest="" if sensitive else outputs.digest_of(value),
    )


def _spec(
    *, refs: tuple[outputs.InputValue, ...] = (), sensitive_outputs: tuple[str, ...] = (), **options: Any
) -> specs.StackSpec:
    return dataclasses.replace(
        stack(inventory="inventory.yml", **options),
        inputs=tuple(item.ref for item in refs),
        outputs=tuple(specs.OutputSpec(name=name, sensitive=True) for name in sensitive_outputs),
    )


def _shown(lab: Lab, *items: plans.Plan | runs.RunResult) -> str:
    """Everything a run shows or keeps: plans, results, live lines, files under the data dir."""
    parts = [*lab.lines, everything_under(lab.root / "data")]
    for item in items:
        if isinstance(item, plans.Plan):
            parts += [json.dumps(item.to_dict()), item.output, json.dumps(dict(item.meta), default=str)]
            parts += [repr(item.inputs), repr(item.planned_outputs)]
        else:
            parts += [item.output, item.error, json.dumps([host.to_dict() for host in item.hosts])]
            parts += [repr(item.outputs), json.dumps([output.to_dict() for output in item.outputs])]
    return "\n".join(parts)


def _leftover_vars(lab: Lab) -> list[Path]:
    return sorted((lab.root / "data" / "runs").glob("*/.extravars-*"))


CONFIGURE = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: base directory
      ansible.builtin.file:
        path: "{{ base_dir }}"
        state: directory
    - name: app config
      ansible.builtin.template:
        src: app.conf.j2
        dest: "{{ base_dir }}/app.conf"
    - name: address file
      ansible.builtin.copy:
        dest: "{{ base_dir }}/address"
        content: "{{ db_host }}:{{ db_port }}\\n"
    - name: show the password
      ansible.builtin.debug:
        msg: "the password is {{ db_password }}"
"""


@pytest.mark.slow
def test_inputs_reach_the_playbook_and_a_sensitive_one_is_masked(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = lab.commit(
        {
            "stacks/hosts/site.yml": CONFIGURE,
            "stacks/hosts/inventory.yml": local_inventory(lab, "web1"),
            "stacks/hosts/templates/app.conf.j2": "host={{ db_host }}\npassword={{ db_password }}\n",
        }
    )
    given = {
        "db_host": _value("db_host", "network.address", "10.1.2.3"),
        "db_port": _value("db_port", "database.port", 5432),
        "db_password": _value("db_password", "database.password", INPUT_CANARY, sensitive=True),
    }
    spec = _spec(refs=tuple(given.values()))

    # The controller feeds the run's redactor; the engine does too (a fresh redactor here).
    plan = engine.plan(lab.ctx(spec, checkout, revision=sha, inputs=given))
    assert plan.meta["sandbox"] == "bubblewrap", "the vars file is bound into the sandbox"
    assert [item.name for item in plan.inputs] == ["db_host", "db_password", "db_port"]
    assert plan.inputs == tuple(given[name] for name in sorted(given))
    by_address = {change.address: change for change in plan.changes}
    config = by_address["web1: app config"]
    assert config.action is plans.Action.CREATE  # a new file (issue 15)
    assert "+host=10.1.2.3" in config.diff and "+password=***" in config.diff
    assert "+10.1.2.3:5432" in by_address["web1: address file"].diff

    result = engine.apply(lab.ctx(spec, checkout, revision=sha, inputs=given), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    web1 = lab.hosts_dir / "web1"
    assert (web1 / "app.conf").read_text() == f"host=10.1.2.3\npassword={INPUT_CANARY}\n"
    assert (web1 / "address").read_text() == "10.1.2.3:5432\n"
    assert any('"msg": "the password is ***"' in line for line in lab.lines)
    assert INPUT_CANARY not in _shown(lab, plan, result)
    assert _leftover_vars(lab) == []


READ_AND_FAIL = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: the inputs are there
      ansible.builtin.assert:
        that: secret | length == 19 and run_dir | length > 0
    - name: then the playbook fails
      ansible.builtin.fail:
        msg: failing on purpose
"""


@pytest.mark.slow
def test_the_vars_file_is_private_and_gone_when_the_playbook_fails(
    lab: Lab, engine: AnsibleEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": READ_AND_FAIL, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    written: list[tuple[Path, int, Any]] = []

    def write_vars(folder: Path, values: Any) -> Path:
        path = real_write(folder, values)
        written.append((path, path.stat().st_mode & 0o777, json.loads(path.read_text())))
        return path

    real_write = running._write_vars
    monkeypatch.setattr(running, "_write_vars", write_vars)
    forced = plans.Plan(
        stack="hosts",
        engine="ansible",
        revision=sha,
        changes=(),
        summary=plans.PlanSummary(),
        fingerprint=inputs.fingerprint(lab.ctx(stack(inventory="inventory.yml"), checkout, revision=sha)),
    )
    run_dir = lab.root / "data" / "runs" / str(lab.runs + 1)  # the apply's own, below
    given = {
        "run_dir": _value("run_dir", "paths.run_dir", str(run_dir)),
        "secret": _value("secret", "database.password", INPUT_CANARY, sensitive=True),
    }
    seen: dict[str, list[Path]] = {}

    def on_output(line: str) -> None:  # live, while the run goes on
        lab.lines.append(line)
        if line.startswith("TASK ["):
            seen[line] = sorted(run_dir.glob(".extravars-*"))

    ctx = lab.ctx(
        _spec(refs=tuple(given.values())), checkout, revision=sha, inputs=given, on_output=on_output
    )
    assert ctx.run_dir == run_dir
    result = engine.apply(ctx, forced)
    assert result.status is runs.RunStatus.FAILED
    # The play had its values (it failed at the last task), not the file: once Ansible
    # had read it, it was gone.
    assert "failed at task 'then the playbook fails'" in result.error, result.error
    assert len(seen) == 2 and all(found == [] for found in seen.values()), seen
    [(path, mode, content)] = written
    assert path.parent == run_dir and mode == 0o600
    assert content == {"run_dir": str(run_dir), "secret": INPUT_CANARY}
    assert not path.exists() and _leftover_vars(lab) == []
    assert INPUT_CANARY not in _shown(lab, result)


@pytest.mark.slow
def test_the_vars_file_is_gone_when_the_playbook_does_not_parse(lab: Lab, engine: AnsibleEngine) -> None:
    broken = "- hosts: all\n  tasks:\n    - ansible.builtin.debug: msg=hi\n   bad: [\n"
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": broken, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    given = {"secret": _value("secret", "database.password", INPUT_CANARY, sensitive=True)}
    ctx = lab.ctx(_spec(refs=tuple(given.values())), checkout, revision=sha, inputs=given)
    with pytest.raises(protocol.EngineError, match="YAML parsing failed"):
        engine.plan(ctx)
    assert ctx.run_dir.is_dir() and _leftover_vars(lab) == []
    assert INPUT_CANARY not in _shown(lab)


HAND_OUT = """\
- hosts: all
  gather_facts: false
  vars:
    token_value: "{{ 'OUTPUT-CANARY' }}-{{ 'd81f2b' }}"
  tasks:
    - name: hand out the outputs
      ansible.builtin.set_stats:
        data:
          address: "10.9.8.7"
          port: 5432
          token: "{{ token_value }}"
    - name: per host data is not an output
      ansible.builtin.set_stats:
        data:
          per_host_only: yes
        per_host: true
    - name: show the token
      ansible.builtin.debug:
        msg: "the token is {{ token_value }}"
"""


@pytest.mark.slow
def test_set_stats_become_outputs_and_a_sensitive_one_is_masked(
    lab: Lab, engine: AnsibleEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ansible prints the set_stats data in the recap too when asked to.
    monkeypatch.setenv("ANSIBLE_SHOW_CUSTOM_STATS", "True")
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": HAND_OUT, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    spec = _spec(sensitive_outputs=("token",))
    expected = (
        outputs.Output(name="address", value="10.9.8.7"),
        outputs.Output(name="port", value=5432),
        outputs.Output(name="token", value=OUTPUT_CANARY, sensitive=True),
    )

    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.planned_outputs == expected, "check mode predicted every task"
    assert any("CUSTOM STATS" in line for line in lab.lines)

    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert result.outputs == expected
    assert [output.to_dict()["value"] for output in result.outputs] == ["10.9.8.7", 5432, outputs.MASK]
    assert any('"msg": "the token is ***"' in line for line in lab.lines)
    assert "10.9.8.7" in result.output, "the recap shows the non-sensitive data"
    assert OUTPUT_CANARY not in _shown(lab, plan, result)


PRINT_FIRST = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: a command check mode cannot predict
      ansible.builtin.command: "true"
      register: made
      changed_when: false
    - name: print the token before handing it out
      ansible.builtin.debug:
        msg: "early {{ 'OUTPUT-CANARY' }}-{{ 'd81f2b' }}"
    - name: hand out the token
      ansible.builtin.set_stats:
        data:
          token: "{{ 'OUTPUT-CANARY' }}-{{ 'd81f2b' }}"
"""


@pytest.mark.slow
def test_a_sensitive_output_printed_before_set_stats_is_masked_in_what_is_kept(
    lab: Lab, engine: AnsibleEngine
) -> None:
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": PRINT_FIRST, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    spec = _spec(sensitive_outputs=("token",))
    plan = engine.plan(lab.ctx(spec, checkout, revision=sha))
    assert plan.planned_outputs == (), "a task check mode skipped may feed set_stats"
    assert any(item.action is plans.Action.UNKNOWN for item in plan.changes)
    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.SUCCEEDED, result.error
    assert result.outputs == (outputs.Output(name="token", value=OUTPUT_CANARY, sensitive=True),)
    assert '"msg": "early ***"' in result.output
    lab.lines.clear()  # the live lines were sent before the value was known to be sensitive
    assert OUTPUT_CANARY not in _shown(lab, plan, result)


def test_an_unknown_or_clashing_input_is_refused_before_anything_runs(
    lab: Lab, engine: AnsibleEngine
) -> None:
    sha, checkout = lab.commit(
        {"stacks/hosts/site.yml": CONFIGURE, "stacks/hosts/inventory.yml": local_inventory(lab)}
    )
    unknown = dataclasses.replace(_value("db_host", "network.address", None), known=False)
    spec = _spec(refs=(unknown,))
    with pytest.raises(protocol.EngineError, match=r"input 'db_host' \(network.address\) is not known yet"):
        engine.plan(lab.ctx(spec, checkout, revision=sha, inputs={"db_host": unknown}))

    given = {"db_host": _value("db_host", "network.address", "10.1.2.3")}
    clash = _spec(refs=tuple(given.values()), extra_vars={"db_host": "other"})
    with pytest.raises(protocol.EngineError, match="also set in the stack's extra_vars"):
        engine.plan(lab.ctx(clash, checkout, revision=sha, inputs=given))

    bad = {"db-host": _value("db-host", "network.address", "10.1.2.3")}
    with pytest.raises(protocol.EngineError, match="not a valid Ansible variable name"):
        engine.plan(lab.ctx(_spec(refs=tuple(bad.values())), checkout, revision=sha, inputs=bad))
    assert lab.lines == [], "nothing ran"
