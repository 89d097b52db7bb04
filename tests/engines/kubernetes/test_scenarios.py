"""The engine scenarios against the Kubernetes API test server (the same ones the real-cluster suite runs)."""

from __future__ import annotations

import pytest

from tests.engines.kubernetes.harness import ServerCluster, Workspace
from tests.engines.kubernetes.scenarios import SCENARIOS


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str, workspace: Workspace, cluster: ServerCluster) -> None:
    SCENARIOS[name](workspace, cluster)
