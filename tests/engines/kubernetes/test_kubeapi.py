"""The Kubernetes API test server speaks the wire format and semantics the engine relies on.

These pin down where the server had to be more faithful than kmock: server-side apply
that creates and replaces fields owned by the same manager, conflicts without force,
dry-run that saves nothing, label selectors, scoped paths, Status errors, discovery
that only lists a custom kind once its CRD is established.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.engines.kubernetes import manifests as m
from tests.support.kubeapi import KubeAPIServer

APPLY = {"Content-Type": "application/apply-patch+yaml"}


@pytest.fixture
def http(kubeapi: KubeAPIServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kubeapi.url, headers={"Authorization": f"Bearer {kubeapi.token}"}) as client:
        yield client


def _apply(
    http: httpx.Client,
    path: str,
    obj: dict[str, Any],
    *,
    manager: str = "tn",
    force: bool = True,
    dry_run: bool = False,
) -> httpx.Response:
    params = {"fieldManager": manager, "force": "true" if force else "false"}
    if dry_run:
        params["dryRun"] = "All"
    return http.patch(path, content=yaml.safe_dump(obj), headers=APPLY, params=params)


CM = "/api/v1/namespaces/default/configmaps/settings"


def test_errors_are_status_objects_with_code_and_reason(http: httpx.Client) -> None:
    response = http.get(CM)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "NotFound",
        404,
    )
    assert body["message"] == 'configmaps "settings" not found'


def test_a_missing_token_is_unauthorized(kubeapi: KubeAPIServer) -> None:
    response = httpx.get(kubeapi.url + "/api/v1/namespaces")
    assert response.status_code == 401 and response.json()["reason"] == "Unauthorized"


def test_apply_creates_then_replaces_the_managers_fields(http: httpx.Client) -> None:
    first = _apply(http, CM, m.config_map("settings", "default", a="1", b="2"))
    assert first.status_code == 201
    created = first.json()
    assert (
        created["metadata"]["uid"]
        and created["metadata"]["resourceVersion"]
        and created["metadata"]["creationTimestamp"]
    )
    entry = created["metadata"]["managedFields"][0]
    assert (entry["manager"], entry["operation"], entry["fieldsType"]) == ("tn", "Apply", "FieldsV1")
    assert entry["fieldsV1"]["f:data"] == {"f:a": {}, "f:b": {}}
    second = _apply(http, CM, m.config_map("settings", "default", a="1"))
    assert second.status_code == 200
    assert second.json()["data"] == {"a": "1"}, "a field the same manager stopped applying disappears"
    assert int(second.json()["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_fields_of_another_manager_survive_and_conflict_without_force(
    http: httpx.Client, kubeapi: KubeAPIServer
) -> None:
    _apply(http, CM, m.config_map("settings", "default", a="1"))
    kubeapi.edit("v1", "ConfigMap", "settings", {"data": {"a": "2", "mine": "x"}}, namespace="default")
    conflict = _apply(http, CM, m.config_map("settings", "default", a="1"), force=False)
    assert conflict.status_code == 409 and conflict.json()["reason"] == "Conflict"
    assert 'conflict with "kubectl-edit"' in conflict.json()["message"]
    forced = _apply(http, CM, m.config_map("settings", "default", a="1"))
    assert forced.json()["data"] == {"a": "1", "mine": "x"}


def test_dry_run_saves_nothing(http: httpx.Client) -> None:
    response = _apply(http, CM, m.config_map("settings", "default", a="1"), dry_run=True)
    assert response.status_code == 201 and response.json()["data"] == {"a": "1"}
    assert http.get(CM).status_code == 404
    _apply(http, CM, m.config_map("settings", "default", a="1"))
    _apply(http, CM, m.config_map("settings", "default", a="changed"), dry_run=True)
    assert http.get(CM).json()["data"] == {"a": "1"}
    assert http.delete(CM, params={"dryRun": "All"}).status_code == 200
    assert http.get(CM).status_code == 200


def test_label_and_field_selectors_filter_lists(http: httpx.Client) -> None:
    for name, labels in (("a", {"tier": "web", "env": "prod"}), ("b", {"tier": "db"}), ("c", {})):
        obj = m.config_map(name, "default")
        obj["metadata"]["labels"] = labels
        _apply(http, f"/api/v1/namespaces/default/configmaps/{name}", obj)

    def names(**params: str) -> list[str]:
        body = http.get("/api/v1/namespaces/default/configmaps", params=params).json()
        assert body["kind"] == "ConfigMapList"
        assert all("kind" not in item for item in body["items"]), (
            "list items come without kind, as on a real server"
        )
        return [item["metadata"]["name"] for item in body["items"]]

    assert names(labelSelector="tier=web") == ["a"]
    assert names(labelSelector="tier in (web,db),env!=prod") == ["b"]
    assert names(labelSelector="!tier") == ["c"]
    assert names(labelSelector="tier,env") == ["a"]
    assert names(fieldSelector="metadata.name=b") == ["b"]
    assert (
        http.get("/api/v1/namespaces/default/configmaps", params={"fieldSelector": "spec.x=1"}).status_code
        == 400
    )


def test_scopes_namespaces_and_paths(http: httpx.Client) -> None:
    missing_ns = _apply(http, "/api/v1/namespaces/nowhere/configmaps/x", m.config_map("x", "nowhere"))
    assert missing_ns.status_code == 404 and missing_ns.json()["message"] == 'namespaces "nowhere" not found'
    assert _apply(http, "/api/v1/namespaces/shop", m.namespace("shop")).status_code == 201
    assert _apply(http, "/api/v1/namespaces/shop/configmaps/x", m.config_map("x", "shop")).status_code == 201
    assert http.get("/api/v1/namespaces/shop/configmaps/x").status_code == 200
    assert http.get("/api/v1/configmaps/x").status_code == 404, (
        "a namespaced object has no cluster-scoped path"
    )
    assert [i["metadata"]["name"] for i in http.get("/api/v1/configmaps").json()["items"]] == ["x"]
    wrong_ns = _apply(http, "/api/v1/namespaces/default/configmaps/x", m.config_map("x", "shop"))
    assert wrong_ns.status_code == 400
    assert http.delete("/api/v1/namespaces/shop").json()["status"] == "Success"
    assert http.get("/api/v1/namespaces/shop/configmaps/x").status_code == 404


def test_apply_needs_a_field_manager_and_matching_identity(http: httpx.Client) -> None:
    response = http.patch(CM, content=yaml.safe_dump(m.config_map("settings", "default")), headers=APPLY)
    assert response.status_code == 400
    renamed = _apply(http, CM, m.config_map("other", "default"))
    assert renamed.status_code == 400 and "does not match the name" in renamed.json()["message"]
    kinded = _apply(http, CM, {**m.config_map("settings", "default"), "apiVersion": "v2"})
    assert kinded.status_code == 400


def test_validation_answers_invalid_without_echoing_secrets(http: httpx.Client) -> None:
    bad = _apply(
        http, "/apis/apps/v1/namespaces/default/deployments/web", m.deployment("web", "default", selector="x")
    )
    assert bad.status_code == 422 and bad.json()["reason"] == "Invalid"
    path = "/api/v1/namespaces/default/secrets/s"
    for secret in (
        m.secret("s", "default", string_data={"pin": 12345678}),
        m.secret("s", "default", data={"k": "tn-not*base64"}),
    ):
        response = _apply(http, path, secret)
        assert response.status_code == 400 and response.json()["reason"] == "BadRequest"
        assert "12345678" not in response.text and "tn-not*base64" not in response.text


def test_server_defaults_and_status_subresource(http: httpx.Client, kubeapi: KubeAPIServer) -> None:
    kubeapi.pause("Deployment")
    created = _apply(
        http, "/apis/apps/v1/namespaces/default/deployments/web", m.deployment("web", "default")
    ).json()
    assert created["spec"]["strategy"]["type"] == "RollingUpdate"
    container = created["spec"]["template"]["spec"]["containers"][0]
    assert (
        container["imagePullPolicy"] == "IfNotPresent" and container["resources"]["requests"]["cpu"] == "10m"
    )
    assert created["metadata"]["generation"] == 1 and "status" not in created
    status = {"status": {"observedGeneration": 1, "replicas": 1}}
    patched = http.patch(
        "/apis/apps/v1/namespaces/default/deployments/web/status",
        content=json.dumps(status),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200 and patched.json()["status"]["replicas"] == 1
    with_status = {**m.deployment("web", "default"), "status": {"replicas": 99}}
    again = _apply(http, "/apis/apps/v1/namespaces/default/deployments/web", with_status).json()
    assert again["status"]["replicas"] == 1, "the main resource ignores status"
    assert again["metadata"]["generation"] == 1, "an unchanged spec keeps its generation"
    service = _apply(http, "/api/v1/namespaces/default/services/web", m.service("web", "default")).json()
    assert (
        service["spec"]["clusterIP"].startswith("10.96.") and service["spec"]["ports"][0]["targetPort"] == 80
    )


def test_a_custom_kind_is_served_once_its_crd_is_established(tmp_path: Path) -> None:
    with (
        KubeAPIServer(crd_established_after_reads=2) as api,
        httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {api.token}"}) as http,
    ):
        crd = m.crd()
        path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}"
        assert _apply(http, path, crd).status_code == 201
        assert http.get("/apis/stable.example.com/v1").status_code == 404
        conditions = http.get(path).json()["status"]["conditions"]
        assert {c["type"]: c["status"] for c in conditions}["Established"] == "False"
        established = http.get(path).json()["status"]["conditions"]
        assert {c["type"]: c["status"] for c in established}["Established"] == "True"
        resources = http.get("/apis/stable.example.com/v1").json()["resources"]
        assert [(r["name"], r["kind"], r["namespaced"]) for r in resources] == [("crontabs", "CronTab", True)]
        assert "stable.example.com" in [g["name"] for g in http.get("/apis").json()["groups"]]


def test_discovery_documents(http: httpx.Client) -> None:
    assert http.get("/api").json()["versions"] == ["v1"]
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["configmaps"]["namespaced"] is True and core["namespaces"]["namespaced"] is False
    assert "deployments/status" in {r["name"] for r in http.get("/apis/apps/v1").json()["resources"]}
    assert http.get("/apis/apps").json()["preferredVersion"]["groupVersion"] == "apps/v1"
    assert http.get("/version").json()["major"] == "1"
    assert http.get("/apis/nope.example.com/v1").status_code == 404


def test_what_is_not_implemented_says_so(http: httpx.Client) -> None:
    assert http.get("/api/v1/namespaces/default/configmaps", params={"watch": "true"}).status_code == 405
    json_patch = http.patch(CM, content="[]", headers={"Content-Type": "application/json-patch+json"})
    assert json_patch.status_code == 415


def test_https_with_a_throwaway_ca(tmp_path: Path) -> None:
    with KubeAPIServer(tls_dir=tmp_path / "tls") as api:
        assert api.url.startswith("https://127.0.0.1:")
        assert api.ca_file is not None
        response = httpx.get(
            api.url + "/version", verify=str(api.ca_file), headers={"Authorization": f"Bearer {api.token}"}
        )
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(api.url + "/version")
