"""Fixtures for the HTTP layer: an app over a fake controller, tokens of every role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.fakes import FakeController, stack_view
from truenorth.config import ControllerConfig, RepositoryConfig, TokenConfig
from truenorth.core.states import Health, SyncState
from truenorth.server.app import create_app

OUT_OF_SYNC = SyncState.OUT_OF_SYNC
PENDING_APPROVAL = SyncState.PENDING_APPROVAL
VIEWER = "tn-viewer-token-0123456789"
OPERATOR = "tn-operator-token-0123456789"
ADMIN = "tn-admin-token-0123456789abc"
WEBHOOK_SECRET = "tn-webhook-secret-9f8e7d6c"
GIT_TOKEN = "tn-git-credential-5a4b3c2d"
SECRETS = (VIEWER, OPERATOR, ADMIN, WEBHOOK_SECRET, GIT_TOKEN)


def make_config(*, webhook_secret: str | None = WEBHOOK_SECRET) -> ControllerConfig:
    return ControllerConfig(
        repositories=(
            RepositoryConfig(
                name="infra", url="https://git.example.com/org/infra.git", credentials=GIT_TOKEN
            ),
        ),
        webhook_secret=webhook_secret,
        tokens=(
            TokenConfig(name="dashboard", role="viewer", token=VIEWER),
            TokenConfig(name="ci", role="operator", token=OPERATOR),
            TokenConfig(name="alice", role="admin", token=ADMIN),
        ),
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fake_controller(data_dir: Path) -> FakeController:
    return FakeController(
        data_dir=data_dir,
        stack_views=[
            stack_view("network"),
            stack_view("app", depends_on=("network",), sync_state=OUT_OF_SYNC, desired_revision="b" * 40),
            stack_view("hosts", engine="ansible", sync_state=PENDING_APPROVAL, health=Health.UNKNOWN),
        ],
    )


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[FakeController]:
    fake = fake_controller(tmp_path / "data")
    yield fake
    fake.store.close()


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for a module's tests that only read or are refused (faster than one per test)."""
    fake = fake_controller(tmp_path_factory.mktemp("shared") / "data")
    with TestClient(create_app(fake, make_config())) as test_client:
        yield test_client
    fake.store.close()


@pytest.fixture
def client(controller: FakeController) -> Iterator[TestClient]:
    with TestClient(create_app(controller, make_config())) as test_client:
        yield test_client
