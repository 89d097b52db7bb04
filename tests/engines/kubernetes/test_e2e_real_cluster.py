"""The engine scenarios against a real Kubernetes cluster (opt-in).

Run with ``TRUENORTH_E2E_KUBECONFIG=/path/to/kubeconfig pytest -m k8s_e2e
tests/engines/kubernetes/test_e2e_real_cluster.py`` (see ``docs/kubernetes-e2e.md`` for
kind and k3s). Each scenario gets its own namespace, ``tn-e2e-<random>``, deleted
afterwards; cluster-scoped objects are named after it too. Skipped unless the
variable is set. The kubeconfig context in use (``TRUENORTH_E2E_CONTEXT``, default
the current one) must allow creating namespaces, CRDs and workloads.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engines.kubernetes.harness import RealCluster, Workspace
from tests.engines.kubernetes.scenarios import SCENARIOS

# Read at import: the suite's autouse fixture clears TRUENORTH_* variables for each test.
KUBECONFIG = os.environ.get("TRUENORTH_E2E_KUBECONFIG", "")
CONTEXT = os.environ.get("TRUENORTH_E2E_CONTEXT", "")
ALLOW_EXEC = os.environ.get("TRUENORTH_E2E_ALLOW_EXEC", "false")

pytestmark = [
    pytest.mark.k8s_e2e,
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(not KUBECONFIG, reason="set TRUENORTH_E2E_KUBECONFIG to run against a real cluster"),
]


@pytest.fixture
def real_cluster() -> Iterator[RealCluster]:
    cluster = RealCluster(
        kubeconfig=Path(KUBECONFIG), namespace=f"tn-e2e-{secrets.token_hex(4)}", context=CONTEXT
    )
    try:
        yield cluster
    finally:
        cluster.delete_namespace()
        # CRDs the scenarios create are named after the namespace.
        cluster._kubectl(
            "delete", "crd", f"crontabs.{cluster.namespace}.example.com", "--ignore-not-found", check=False
        )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_on_a_real_cluster(name: str, real_cluster: RealCluster, tmp_path: Path) -> None:
    settings = {"kubeconfig": KUBECONFIG, "allow_exec_credentials": ALLOW_EXEC}
    if CONTEXT:
        settings["context"] = CONTEXT
    workspace = Workspace(tmp_path / "ws", settings=settings, options={"timeout": "3m"})
    SCENARIOS[name](workspace, real_cluster)
