"""Stack inputs substituted into the objects, and outputs read back from them, against the test server.

Inputs reach a Kubernetes stack through Flux-style ``${NAME}`` substitution after
rendering and before the diff; outputs are read from the live objects once the apply
is healthy. Sensitive values only ever reach a Secret's values, byte for byte, and are
shown nowhere: not in the plan, its JSON, the run's output or error, the live output
lines, or the files the run leaves behind. (Spec parsing of ``inputs:``/``outputs:`` is
tested with the spec; here the StackSpec is built directly.)
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

import pytest
import yaml

from tests.engines.kubernetes import manifests as m
from tests.engines.kubernetes.harness import Workspace
from tests.support.kubeapi import KubeAPIServer
from truenorth.core import outputs, plans, specs
from truenorth.core.runs import RunResult, RunStatus
from truenorth.engines import protocol
from truenorth.engines.kubernetes import KubernetesEngine

NS = "team-a"
pytestmark = pytest.mark.slow

#: A sensitive value with characters YAML, JSON and shells care about.
CANARY = "tn-canary-k8s-input-7f3a ü\"'$x"


def _value(
    name: str, value: Any, *, sensitive: bool = False, source: str = "network.out"
) -> outputs.InputValue:
    stack, _, output = source.partition(".")
    # A sensitive value gets a keyed digest from the store; here it must only change with the value.
    digest = outputs.digest_of(["keyed", value] if sensitive else value)
    return outputs.InputValue(
        ref=outputs.InputRef(name=name, stack=stack, output=output),
        value=value,
        sensitive=sensitive,
        digest=digest,
    )


def _ctx(
    ws: Workspace,
    inputs: dict[str, Any] | None = None,
    *,
    sensitive: tuple[str, ...] = (),
    declared: tuple[specs.OutputSpec, ...] = (),
    lines: list[str] | None = None,
) -> protocol.StackContext:
    values = {
        name: _value(name, value, sensitive=name in sensitive) for name, value in (inputs or {}).items()
    }
    ctx = ws.ctx()
    stack = dataclasses.replace(
        ctx.stack, inputs=tuple(item.ref for item in values.values()), outputs=declared
    )
    sink = lines.append if lines is not None else None
    return dataclasses.replace(ctx, stack=stack, inputs=values, on_output=sink)


def _apply(ws: Workspace, **kwargs: Any) -> RunResult:
    engine = KubernetesEngine()
    return engine.apply(_ctx(ws, **kwargs), engine.plan(_ctx(ws, **kwargs)))


def _settings(**data: str) -> dict[str, Any]:
    return m.config_map("settings", NS, **data)


# ---------------------------------------------------------------------------- substitution


def test_inputs_are_substituted_before_the_diff_and_recorded_on_the_plan(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    script = m.config_map("script", NS, run="echo ${HOME} ${undefined}")
    script["metadata"]["annotations"] = {"kustomize.toolkit.fluxcd.io/substitute": "disabled"}
    web = m.deployment("web", NS)
    web["spec"]["replicas"] = "${replicas}"
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                _settings(
                    host="${db_host}",
                    url="postgres://${db_host}:${port}/app",
                    region="${region:=eu-west-1}",
                    literal="$${db_host}",
                ),
                script,
                web,
            ]
        }
    )
    inputs = {"db_host": "10.0.0.5", "port": 5432, "replicas": 2}
    engine = KubernetesEngine()
    plan = engine.plan(_ctx(workspace, inputs))
    assert [item.name for item in plan.inputs] == ["db_host", "port", "replicas"]
    assert [item.ref.source for item in plan.inputs] == ["network.out"] * 3
    assert plan.to_dict()["inputs"][0]["value"] == "10.0.0.5"
    settings = next(c for c in plan.changes if c.name == "settings")
    assert settings.after["data"] == {
        "host": "10.0.0.5",
        "url": "postgres://10.0.0.5:5432/app",
        "region": "eu-west-1",
        "literal": "${db_host}",
    }
    result = engine.apply(_ctx(workspace, inputs), plan)
    assert result.ok, result.error
    assert kubeapi.object("v1", "ConfigMap", "settings", NS)["data"]["url"] == "postgres://10.0.0.5:5432/app"
    assert kubeapi.object("v1", "ConfigMap", "script", NS)["data"]["run"] == "echo ${HOME} ${undefined}"
    assert kubeapi.object("apps/v1", "Deployment", "web", NS)["spec"]["replicas"] == 2, "typed whole value"
    again = engine.plan(_ctx(workspace, inputs))
    assert not again.summary.has_changes, again.output
    moved = engine.plan(_ctx(workspace, {**inputs, "db_host": "10.0.0.6"}))
    assert [c.name for c in moved.changes if c.action is plans.Action.UPDATE] == ["settings"]
    assert '"10.0.0.6"' in moved.output or "10.0.0.6" in moved.output
    stale = engine.apply(_ctx(workspace, {**inputs, "db_host": "10.0.0.7"}), moved)
    assert stale.status is RunStatus.FAILED and "stale plan" in stale.error


def test_without_inputs_nothing_is_substituted(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), _settings(run="echo ${HOME} ${INTERVAL / 1000}")]})
    result = _apply(workspace)
    assert result.ok, result.error
    assert (
        kubeapi.object("v1", "ConfigMap", "settings", NS)["data"]["run"] == "echo ${HOME} ${INTERVAL / 1000}"
    )


def test_a_reference_with_no_value_names_the_stack_the_object_and_the_variable(
    workspace: Workspace,
) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), _settings(host="${db_host}", zone="${zone}")]})
    with pytest.raises(protocol.EngineError) as caught:
        KubernetesEngine().plan(_ctx(workspace, {"db_host": "10.0.0.5"}))
    assert str(caught.value) == (
        f"stack app: deploy/app/app.yaml (document 2): core/ConfigMap/{NS}/settings: data.zone: "
        "${zone} has no value (the stack has no "
        "input zone and the reference has no default; write ${zone:=default} for one)"
    )


def test_a_sensitive_input_outside_a_secret_is_refused_without_showing_it(workspace: Workspace) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), _settings(dsn="postgres://app:${password}@db/app")]})
    ctx = _ctx(workspace, {"password": CANARY}, sensitive=("password",))
    with pytest.raises(protocol.EngineError) as caught:
        KubernetesEngine().plan(ctx)
    message = str(caught.value)
    assert message.startswith(
        f"stack app: deploy/app/app.yaml (document 2): core/ConfigMap/{NS}/settings: data.dsn: "
        "the sensitive input password may only be "
        "substituted into a v1 Secret's stringData or data values"
    )
    assert CANARY not in message and CANARY not in workspace.stored_text()


def test_a_sensitive_input_reaches_a_secret_byte_exact_and_is_shown_nowhere(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    encoded = base64.b64encode(CANARY.encode()).decode()
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                m.secret(
                    "creds",
                    NS,
                    string_data={"password": "${password}", "dsn": "postgres://app:${password}@db/app"},
                    data={"copy": "${password}"},
                ),
                _settings(user="${user}"),
            ]
        }
    )
    inputs = {"password": CANARY, "user": "app"}
    lines: list[str] = []
    engine = KubernetesEngine()
    plan = engine.plan(_ctx(workspace, inputs, sensitive=("password",)))
    shown = [plan.output, json.dumps(plan.to_dict()), repr(plan)]
    assert plan.to_dict()["inputs"][0] == {
        "name": "password",
        "source": "network.out",
        "known": True,
        "sensitive": True,
        "value": outputs.MASK,
        "digest": plan.inputs[0].digest,
    }
    result = engine.apply(_ctx(workspace, inputs, sensitive=("password",), lines=lines), plan)
    assert result.ok, result.error
    live = kubeapi.object("v1", "Secret", "creds", NS)["data"]
    assert base64.b64decode(live["password"]).decode() == CANARY
    assert base64.b64decode(live["copy"]).decode() == CANARY
    assert base64.b64decode(live["dsn"]).decode() == f"postgres://app:{CANARY}@db/app"
    # The body on the wire is exactly the substituted value (stringData as text, data base64).
    bodies = [yaml.safe_load(r.body) for r in kubeapi.writes() if r.path.endswith("/secrets/creds")]
    assert bodies
    for body in bodies:
        assert body["stringData"]["password"] == CANARY and body["data"]["copy"] == encoded
    # An API error quoting the value is masked too (the engine registered it itself).
    changed = {"password": CANARY + "2", "user": "app"}
    second = engine.plan(_ctx(workspace, changed, sensitive=("password",)))
    kubeapi.inject(method="PATCH", plural="secrets", code=403, reason="Forbidden", message=f"no: {CANARY}2")
    denied = engine.apply(_ctx(workspace, changed, sensitive=("password",)), second)
    assert denied.status is RunStatus.FAILED and "no: " in denied.error
    shown += [
        second.output,
        json.dumps(second.to_dict()),
        result.output,
        result.error,
        denied.output,
        denied.error,
        repr(result),
        *lines,
    ]
    shown.append(workspace.stored_text())
    for text in shown:
        for form in (CANARY, encoded, CANARY + "2"):
            assert form not in text


def test_a_changed_sensitive_input_makes_the_plan_stale(workspace: Workspace) -> None:
    workspace.commit(
        {"app.yaml": [m.namespace(NS), m.secret("creds", NS, string_data={"password": "${password}"})]}
    )
    engine = KubernetesEngine()
    plan = engine.plan(_ctx(workspace, {"password": "first-secret"}, sensitive=("password",)))
    moved = engine.apply(_ctx(workspace, {"password": "second-secret"}, sensitive=("password",)), plan)
    assert moved.status is RunStatus.FAILED and "stale plan" in moved.error


# ---------------------------------------------------------------------------- outputs


def _load_balancer() -> dict[str, Any]:
    service = m.service("web", NS)
    service["spec"]["type"] = "LoadBalancer"
    return service


def test_outputs_are_read_from_the_live_objects_after_health(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    workspace.commit(
        {
            "app.yaml": [
                m.namespace(NS),
                _load_balancer(),
                _settings(mode="blue"),
                m.secret("creds", NS, string_data={"token": "tn-canary-output-token"}),
            ]
        },
        namespace=NS,
    )
    declared = (
        specs.OutputSpec(name="lb_ip", object="v1/Service/web", path=".status.loadBalancer.ingress[0].ip"),
        specs.OutputSpec(name="mode", object="v1/ConfigMap/settings", namespace=NS, path=".data.mode"),
        specs.OutputSpec(name="ports", object="v1/Service/web", path=".spec.ports"),
        specs.OutputSpec(name="token", object="v1/Secret/creds", path=".data.token"),
        specs.OutputSpec(name="ns_uid", object="v1/Namespace/" + NS, path=".metadata.name"),
    )
    lines: list[str] = []
    result = _apply(workspace, declared=declared, lines=lines)
    assert result.ok, result.error
    found = {item.name: item for item in result.outputs}
    assert [item.name for item in result.outputs] == ["lb_ip", "mode", "ports", "token", "ns_uid"]
    assert found["lb_ip"].value == "192.0.2.10" and not found["lb_ip"].sensitive
    assert found["mode"].value == "blue"
    assert found["ports"].value[0]["port"] == 80
    assert found["ns_uid"].value == NS, "a cluster-scoped object is read without a namespace"
    token = found["token"]
    assert token.sensitive, "a value read from a Secret is always sensitive"
    assert base64.b64decode(token.value).decode() == "tn-canary-output-token"
    assert 'output lb_ip = "192.0.2.10"' in lines and f"output token = {outputs.MASK}" in lines
    for text in (result.output, result.error, repr(result), *lines, workspace.stored_text()):
        assert "tn-canary-output-token" not in text and token.value not in text


def test_a_declared_sensitive_output_is_masked(workspace: Workspace) -> None:
    workspace.commit(
        {"app.yaml": [m.namespace(NS), _settings(key="tn-canary-declared-sensitive")]}, namespace=NS
    )
    declared = (
        specs.OutputSpec(name="key", sensitive=True, object="v1/ConfigMap/settings", path=".data.key"),
    )
    lines: list[str] = []
    result = _apply(workspace, declared=declared, lines=lines)
    assert result.ok, result.error
    assert result.outputs[0].sensitive and result.outputs[0].value == "tn-canary-declared-sensitive"
    assert "tn-canary-declared-sensitive" not in result.output + "".join(lines)


@pytest.mark.parametrize(
    ("declared", "error"),
    [
        (
            specs.OutputSpec(
                name="lb_ip", object="v1/Service/web", path=".status.loadBalancer.ingress[0].ip"
            ),
            f"output lb_ip: no field .status.loadBalancer.ingress[0].ip on v1/Service/web in namespace {NS} "
            "(no field 'ingress' at .status.loadBalancer)",
        ),
        (
            specs.OutputSpec(name="gone", object="v1/ConfigMap/nowhere", path=".data.a"),
            f"output gone: v1/ConfigMap/nowhere in namespace {NS} does not exist",
        ),
        (
            specs.OutputSpec(name="odd", object="Service/web", path=".spec"),
            "output odd: object must be [GROUP/]VERSION/KIND/NAME",
        ),
        (
            specs.OutputSpec(name="kind", object="example.com/v1/Widget/w", path=".spec"),
            "output kind: the cluster does not serve Widget in example.com/v1",
        ),
        (
            specs.OutputSpec(name="nopath", object="v1/Service/web"),
            "output nopath: a Kubernetes output needs object",
        ),
    ],
    ids=["missing field", "missing object", "bad object", "unknown kind", "no path"],
)
def test_an_output_that_cannot_be_read_fails_the_apply_clearly(
    workspace: Workspace, declared: specs.OutputSpec, error: str
) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), m.service("web", NS)]}, namespace=NS)
    result = _apply(workspace, declared=(declared,))
    assert result.status is RunStatus.FAILED
    assert result.error.startswith(f"the apply succeeded but {error}"), result.error
    assert result.outputs == ()


def test_outputs_wait_for_health(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    kubeapi.pause("Service")
    workspace.commit({"app.yaml": [m.namespace(NS), _load_balancer()]}, namespace=NS, timeout="1s")
    declared = (
        specs.OutputSpec(name="lb_ip", object="v1/Service/web", path=".status.loadBalancer.ingress[0].ip"),
    )
    result = _apply(workspace, declared=declared)
    assert result.status is RunStatus.FAILED and "timed out waiting" in result.error
    assert result.outputs == ()


def test_an_apply_with_an_input_not_known_yet_is_refused(
    workspace: Workspace, kubeapi: KubeAPIServer
) -> None:
    workspace.commit({"app.yaml": [m.namespace(NS), _settings(host="${db_host:=none}")]})
    engine = KubernetesEngine()
    plan = engine.plan(_ctx(workspace))
    ctx = _ctx(workspace)
    unknown = outputs.InputValue(ref=outputs.InputRef("db_host", "database", "address"), known=False)
    result = engine.apply(dataclasses.replace(ctx, inputs={"db_host": unknown}), plan)
    assert result.status is RunStatus.FAILED
    assert result.error == "input db_host is (known after database applies)"
    assert kubeapi.object("v1", "ConfigMap", "settings", NS) is None


def test_kustomize_output_is_substituted_too(workspace: Workspace, kubeapi: KubeAPIServer) -> None:
    workspace.commit(
        {
            "kustomization.yaml": {"resources": ["settings.yaml"], "namespace": NS},
            "settings.yaml": [m.namespace(NS), _settings(host="${db_host}")],
        }
    )
    result = _apply(workspace, inputs={"db_host": "10.0.0.9"})
    assert result.ok, result.error
    assert kubeapi.object("v1", "ConfigMap", "settings", NS)["data"]["host"] == "10.0.0.9"
