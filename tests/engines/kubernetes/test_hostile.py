"""A hostile Kustomize root cannot read what lies outside its stack (issue 10).

Kustomize runs no repository code, but a kustomization can name files to read
(``configMapGenerator`` ``files``/``envs``, ``resources``). Whatever it names outside
the stack's folder (the database, another stack's state, the controller's environment)
is refused, and nothing of it appears in the error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engines.kubernetes.test_fixtures import _ctx
from truenorth.engines import protocol
from truenorth.engines.kubernetes import KubernetesEngine

pytestmark = pytest.mark.slow

CANARY = "tn-k8s-hostile-canary-5f1d2c"


def _repo(tmp_path: Path, generator: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "app" / "kustomization.yaml").write_text(f"configMapGenerator:\n  - name: stolen\n{generator}")
    return repo


@pytest.fixture
def secrets_outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    data = tmp_path / "data"
    (data / "state" / "other").mkdir(parents=True)
    database = data / "truenorth.db"
    database.write_text(f"secret={CANARY}\n")
    state = data / "state" / "other" / "terraform.tfstate"
    state.write_text(f'{{"outputs": {{"password": "{CANARY}"}}}}\n')
    monkeypatch.setenv("TN_HOSTILE_CANARY", CANARY)
    return {"database": database, "state": state}


@pytest.mark.parametrize(
    "target",
    ["database", "state", "/proc/1/environ", "/proc/self/environ", "relative-database"],
)
def test_a_kustomization_cannot_read_outside_its_stack(
    tmp_path: Path, secrets_outside: dict[str, Path], target: str
) -> None:
    if target == "relative-database":
        path = os.path.relpath(secrets_outside["database"], tmp_path / "repo" / "app")
    else:
        path = str(secrets_outside.get(target, target))
    for key in ("files", "envs"):
        repo = _repo(tmp_path / key, f"    {key}:\n      - {path}\n")
        with pytest.raises(protocol.EngineError) as caught:
            KubernetesEngine().render(_ctx(repo, tmp_path / key, path="app"))
        assert CANARY not in str(caught.value)


def test_a_kustomization_reading_its_own_files_still_works(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "    files:\n      - config.txt\n")
    (repo / "app" / "config.txt").write_text("hello\n")
    [configmap] = KubernetesEngine().render(_ctx(repo, tmp_path, path="app"))
    assert configmap["kind"] == "ConfigMap" and configmap["data"] == {"config.txt": "hello\n"}
