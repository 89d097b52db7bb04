"""``in_cluster = true``: the cluster truenorth runs in, through its pod's service account.

The pod's credentials are faked as a folder (``token``, ``ca.crt``, ``namespace``) and
the ``KUBERNETES_SERVICE_*`` variables; the API test server speaks HTTPS with its own
throwaway CA and checks the bearer token on every request.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.kubeapi import KubeAPIServer
from truenorth.config import clusters, settings
from truenorth.core import redaction
from truenorth.engines import protocol
from truenorth.engines.kubernetes import client, incluster, kubeconfigs


def _service_account(folder: Path, *, token: str, ca: Path | None, namespace: str = "truenorth") -> Path:
    folder.mkdir(parents=True)
    (folder / "token").write_text(token)
    if ca is not None:
        shutil.copy(ca, folder / "ca.crt")
    (folder / "namespace").write_text(namespace)
    return folder


def test_the_in_cluster_table_is_parsed_and_handed_to_the_engine() -> None:
    parsed = clusters.parse({"clusters": {"home": {"in_cluster": True, "service_account_dir": "/sa"}}})
    assert parsed["home"].settings() == {
        "in_cluster": "true",
        "service_account_dir": "/sa",
        "allowed_remote_hosts": "",
    }
    for bad, message in (
        ({"in_cluster": "true"}, "must be true or false"),
        ({"in_cluster": False}, "false means nothing"),
        ({"in_cluster": True, "kubeconfig": "/k"}, "kubeconfig"),
        ({}, "kubeconfig: missing"),
    ):
        with pytest.raises(settings.ConfigError, match=message):
            clusters.parse({"clusters": {"home": bad}})


def test_the_server_comes_from_the_pods_environment() -> None:
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    assert incluster.server_url(env) == "https://10.96.0.1:443"
    assert incluster.server_url({"KUBERNETES_SERVICE_HOST": "fd00::1"}) == "https://[fd00::1]:443"
    for bad in (
        {},
        {"KUBERNETES_SERVICE_HOST": "x", "KUBERNETES_SERVICE_PORT": "99999"},
        {"KUBERNETES_SERVICE_HOST": "a b"},
    ):
        with pytest.raises(protocol.EngineError, match="in-cluster access"):
            incluster.server_url(bad)


def test_missing_credentials_are_named_and_the_token_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    folder = _service_account(tmp_path / "sa", token="secret-token-canary", ca=None)
    with pytest.raises(protocol.EngineError, match="CA certificate") as caught:
        kubeconfigs.load({"in_cluster": "true", "service_account_dir": str(folder)}, stack="web")
    assert "secret-token-canary" not in str(caught.value)
    with pytest.raises(protocol.EngineError, match="cannot read the service account's token"):
        kubeconfigs.load({"in_cluster": "true", "service_account_dir": str(tmp_path / "none")}, stack="web")


@pytest.mark.slow
def test_the_engine_client_reaches_the_api_over_tls_with_the_service_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with KubeAPIServer(tls_dir=tmp_path / "tls") as api:
        assert api.ca_file is not None and api.token
        host, port = api.url.removeprefix("https://").rsplit(":", 1)
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
        folder = _service_account(tmp_path / "sa", token=api.token + "\n", ca=api.ca_file)
        cluster = settings.ClusterConfig(
            name="home", kubeconfig="", in_cluster=True, service_account_dir=str(folder)
        )
        access = kubeconfigs.load(cluster.settings(), stack="web", target="home")
        assert (access.server, access.namespace) == (api.url, "truenorth")
        with client.KubeClient(access, redactor=redaction.Redactor([api.token])) as kube:
            found = kube.resource_type("v1", "ConfigMap")
        assert found is not None and found.plural == "configmaps"
        assert api.requests and all(r.method == "GET" for r in api.requests)

        # A rotated token is read again for the next operation; a wrong one is refused by the server.
        (folder / "token").write_text("not-the-token")
        refused = kubeconfigs.load(cluster.settings(), stack="web")
        with (
            client.KubeClient(refused, redactor=redaction.Redactor(["not-the-token"])) as kube,
            pytest.raises(client.ClientError) as caught,
        ):
            kube.resource_type("v1", "Secret")
        assert "not-the-token" not in str(caught.value)
