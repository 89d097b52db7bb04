"""Rendering limits and refusals that need files built on the fly (symlinks, huge inputs)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.engines.kubernetes.test_fixtures import _ctx
from truenorth.core import specs
from truenorth.engines import protocol
from truenorth.engines.kubernetes import KubernetesEngine, documents, objects, to_yaml

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "kubernetes"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def _render(
    checkout: Path, tmp_path: Path, path: str = "app", limits: documents.Limits | None = None
) -> list[dict]:
    return KubernetesEngine(limits=limits).render(_ctx(checkout, tmp_path, path=path))


def test_a_symlink_out_of_the_stack_folder_is_refused(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo", {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}
    )
    (repo / "other").mkdir()
    (repo / "other" / "secret.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: theirs}\n")
    os.symlink("../other/secret.yaml", repo / "app" / "stolen.yaml")
    with pytest.raises(protocol.EngineError, match=r"symlinks lead out of app: app/stolen.yaml"):
        _render(repo, tmp_path)


def test_a_symlink_to_an_absolute_path_is_refused(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo", {"app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}
    )
    os.symlink("/etc/passwd", repo / "app" / "passwd.yaml")
    with pytest.raises(protocol.EngineError, match="symlinks lead out of app"):
        _render(repo, tmp_path)


def test_a_symlink_in_a_kustomize_base_is_refused(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": "resources: [../base]\n",
            "base/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        },
    )
    os.symlink("/etc/hostname", repo / "base" / "unused.yaml")
    with pytest.raises(protocol.EngineError, match=r"symlinks lead out of base: base/unused\.yaml"):
        _render(repo, tmp_path)
    (repo / "base" / "unused.yaml").unlink()
    (repo / "base" / "cm.yaml").unlink()
    os.symlink("/etc/hostname", repo / "base" / "cm.yaml")
    with pytest.raises(protocol.EngineError, match=r"'cm\.yaml' resolves outside the repository"):
        _render(repo, tmp_path)


def test_a_symlink_that_stays_inside_is_fine(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo",
        {"app/real/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n"},
    )
    os.symlink("real", repo / "app" / "alias")
    rendered = _render(repo, tmp_path)
    assert [objects.ObjectRef.of(obj).address for obj in rendered] == ["core/ConfigMap/x/a"]


def test_a_stack_path_that_is_a_symlink_out_of_the_checkout_is_refused(tmp_path: Path) -> None:
    outside = _write(
        tmp_path / "outside", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"}
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    os.symlink(outside, repo / "app")
    with pytest.raises(protocol.EngineError, match="outside the repository"):
        _render(repo, tmp_path)


def test_fifty_thousand_documents_hit_the_document_limit(tmp_path: Path) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    repo = _write(tmp_path / "repo", {"app/many.yaml": "---\n".join([doc] * 50_000)})
    started = time.monotonic()
    with pytest.raises(protocol.EngineError, match=r"more than 10000 documents \(limit\)"):
        _render(repo, tmp_path)
    assert time.monotonic() - started < 10


def test_a_billion_laughs_alias_bomb_hits_the_node_limit(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join(['*' + previous] * 9)}]")
    bomb = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n"
        + "\n".join("  " + line for line in lines)
        + "\n"
    )
    repo = _write(tmp_path / "repo", {"app/bomb.yaml": bomb})
    started = time.monotonic()
    with pytest.raises(protocol.EngineError, match=r"YAML nodes \(limit; an alias bomb"):
        _render(repo, tmp_path)
    assert time.monotonic() - started < 5


def test_a_folder_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    big = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {x: '" + "x" * 4096 + "'}\n"
    repo = _write(
        tmp_path / "repo", {f"app/{n}.yaml": big.replace("name: big", f"name: big{n}") for n in range(5)}
    )
    with pytest.raises(protocol.EngineError, match="larger than the 10000 byte limit"):
        _render(repo, tmp_path, limits=documents.Limits(max_bytes=10_000))


def test_kustomize_output_over_the_size_cap_is_refused(tmp_path: Path) -> None:
    repo = _write(
        tmp_path / "repo",
        {
            "app/kustomization.yaml": "configMapGenerator:\n  - name: big\n    literals: [x="
            + "y" * 20_000
            + "]\n",
        },
    )
    with pytest.raises(protocol.EngineError, match="larger than the 10000 byte limit"):
        _render(repo, tmp_path, limits=documents.Limits(max_bytes=10_000))


def test_a_kustomization_that_includes_itself_is_a_cycle(tmp_path: Path) -> None:
    repo = _write(tmp_path / "repo", {"app/kustomization.yaml": "resources: [.]\n"})
    with pytest.raises(protocol.EngineError, match=r"kustomization cycle: app -> app"):
        _render(repo, tmp_path)


def test_a_missing_stack_folder_is_reported(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    with pytest.raises(protocol.EngineError, match="'app' is not a folder in the repository"):
        _render(tmp_path / "repo", tmp_path)


def test_to_yaml_masks_secrets_and_round_trips_the_rest(tmp_path: Path) -> None:
    objs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s"},
            "stringData": {"p": "tn-render-canary"},
        },
    ]
    text = to_yaml(objs)
    assert "tn-render-canary" not in text
    loaded = list(yaml.safe_load_all(text))
    assert loaded[0] == objs[0]
    assert loaded[1]["stringData"] == {"p": "(sensitive value)"}
    assert to_yaml([]) == ""


def test_the_example_overlay_renders_exactly_what_kubectl_kustomize_gives(tmp_path: Path) -> None:
    spec = specs.parse_spec((EXAMPLE / "truenorth.yaml").read_text()).stack("web-production")
    ctx = _ctx(EXAMPLE, tmp_path, path=spec.path)
    rendered = KubernetesEngine().render(ctx)
    expected = subprocess.run(
        ["kubectl", "kustomize", str(EXAMPLE / spec.path)], capture_output=True, text=True, check=True
    ).stdout
    assert rendered == list(yaml.safe_load_all(expected))
    assert list(yaml.safe_load_all(to_yaml(rendered))) == list(yaml.safe_load_all(expected))
    kinds = [obj["kind"] for obj in rendered]
    assert sorted(kinds) == ["ConfigMap", "Deployment", "Namespace", "Service"]


def test_list_items_count_as_documents(tmp_path: Path) -> None:
    items = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{n}"}} for n in range(20)]
    repo = _write(
        tmp_path / "repo", {"app/list.json": json.dumps({"apiVersion": "v1", "kind": "List", "items": items})}
    )
    with pytest.raises(protocol.EngineError, match=r"more than 10 documents \(limit\)"):
        _render(repo, tmp_path, limits=documents.Limits(max_documents=10))
    assert len(_render(repo, tmp_path)) == 20
