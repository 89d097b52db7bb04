"""Fixtures for the Kubernetes engine tests: a test API server, a kubeconfig, a workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines.kubernetes.harness import ServerCluster, Workspace
from tests.support.kubeapi import KubeAPIServer

DATA = Path(__file__).resolve().parents[2] / "data" / "kubernetes"


@pytest.fixture
def kubeapi() -> Iterator[KubeAPIServer]:
    with KubeAPIServer() as api:
        yield api


@pytest.fixture
def cluster(kubeapi: KubeAPIServer, tmp_path: Path) -> ServerCluster:
    return ServerCluster(api=kubeapi, kubeconfig=kubeapi.kubeconfig(tmp_path / "kubeconfig"))


@pytest.fixture
def workspace(cluster: ServerCluster, tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws", settings={"kubeconfig": str(cluster.kubeconfig)})
