"""Vetting the cluster's kubeconfig before any client uses it (security case 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from truenorth.engines import protocol
from truenorth.engines.kubernetes import kubeconfigs

TOKEN = "tn-kubeconfig-token-canary"


def _write(
    tmp_path: Path,
    *,
    cluster: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "prod",
        "clusters": [{"name": "c", "cluster": cluster or {"server": "https://k8s.example.test:6443"}}],
        "contexts": [
            {"name": "prod", "context": context or {"cluster": "c", "user": "u", "namespace": "apps"}}
        ],
        "users": [{"name": "u", "user": user if user is not None else {"token": TOKEN}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def _load(path: Path, **settings: str) -> kubeconfigs.ClusterAccess:
    return kubeconfigs.load({"kubeconfig": str(path), **settings}, stack="web")


def test_a_plain_token_kubeconfig_is_accepted_and_reduced_to_its_context(tmp_path: Path) -> None:
    access = _load(_write(tmp_path))
    assert (access.context, access.server, access.namespace) == (
        "prod",
        "https://k8s.example.test:6443",
        "apps",
    )
    assert [c["name"] for c in access.config["contexts"]] == ["prod"]
    assert TOKEN not in repr(access)


def test_no_kubeconfig_names_the_target_and_both_ways_to_set_it() -> None:
    with pytest.raises(protocol.EngineError) as caught:
        kubeconfigs.load({}, stack="web", target="prod")
    message = str(caught.value)
    assert "stack web: its target cluster 'prod' is not configured here" in message
    assert "--kubeconfig FILE [--context NAME]" in message and "[clusters.prod]" in message
    with pytest.raises(protocol.EngineError) as caught:
        kubeconfigs.load({}, stack="web")
    message = str(caught.value)
    assert "stack web names no target cluster" in message
    assert "--kubeconfig FILE" in message and "target: NAME" in message and "[clusters.NAME]" in message


def test_an_exec_plugin_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1",
                "command": "aws",
                "args": ["eks", "get-token"],
            }
        },
    )
    with pytest.raises(
        protocol.EngineError, match="exec credential plugin; refused unless the cluster allows exec"
    ):
        _load(path)
    assert _load(path, allow_exec_credentials="true").context == "prod"


def test_insecure_skip_tls_verify_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path, cluster={"server": "https://k8s.example.test", "insecure-skip-tls-verify": True})
    with pytest.raises(protocol.EngineError, match="insecure-skip-tls-verify; refused"):
        _load(path)
    assert _load(path, allow_insecure_tls="yes").server == "https://k8s.example.test"


def test_plain_http_is_only_for_loopback(tmp_path: Path) -> None:
    assert (
        _load(_write(tmp_path, cluster={"server": "http://127.0.0.1:8001"})).server == "http://127.0.0.1:8001"
    )
    with pytest.raises(protocol.EngineError, match="plain http:// is only allowed on loopback"):
        _load(_write(tmp_path, cluster={"server": "http://k8s.example.test:8080"}))


def test_a_bad_flag_value_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(protocol.EngineError, match="allow_exec_credentials must be true or false"):
        _load(_write(tmp_path), allow_exec_credentials="sometimes")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"context": {"cluster": "c"}}, "context 'prod' names no user"),
        ({"context": {"cluster": "nope", "user": "u"}}, "has no cluster named 'nope'"),
        ({"cluster": {"certificate-authority-data": "x"}}, "cluster 'c' has no server"),
        ({"user": {"auth-provider": {"name": "gcp"}}}, "auth-provider, which is not supported"),
    ],
)
def test_broken_kubeconfigs_are_explained(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(protocol.EngineError, match=message):
        _load(_write(tmp_path, **changes))


def test_an_unknown_context_and_unreadable_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(protocol.EngineError, match="has no context named 'staging'"):
        _load(_write(tmp_path), context="staging")
    with pytest.raises(protocol.EngineError, match="cannot be read"):
        _load(tmp_path / "missing")
    broken = tmp_path / "broken"
    broken.write_text(f"users:\n  - token: {TOKEN}\n  bad: [\n")
    with pytest.raises(protocol.EngineError) as caught:
        _load(broken)
    assert "not valid YAML" in str(caught.value) and TOKEN not in str(caught.value)
