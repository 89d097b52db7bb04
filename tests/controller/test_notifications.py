"""The controller tells people: a real Ansible stack, a real Apprise ``json://`` receiver.

The stack manages a local file; editing that file is a drift of the live system. Drift
checks run on a fake clock, several times while the drift lasts: exactly one
``drift-detected`` arrives, and one ``drift-resolved`` once the file is right again.
A plan held for approval sends ``approval-required``; a refused ``truenorth.yaml`` sends
``source-error`` once for that revision.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import receivers
from tests.support.gitrepos import GitRepo
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.controller.loop import clocks
from truenorth.engines import sandbox
from truenorth.notify import subscriptions

pytestmark = [pytest.mark.slow]

PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: managed file
      ansible.builtin.copy:
        dest: "{{ base_dir }}/{{ inventory_hostname }}.conf"
        content: "managed by truenorth\\n"
        mode: "0644"
"""
INVENTORY = """\
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    web1: {}
"""


def spec(hosts: Path, *, auto_apply: bool = True) -> str:
    return (
        "stacks:\n  - name: fleet\n    engine: ansible\n    path: ansible\n"
        f"    inventory: inventory.yml\n    auto_apply: {str(auto_apply).lower()}\n"
        f"    drift_interval: 5m\n    extra_vars: {{base_dir: {hosts}}}\n"
    )


async def settle(ctl: facade.Controller) -> None:
    async with asyncio.timeout(180):
        await ctl.wait_idle()
    notifier = ctl.context.notifications.notifier
    assert notifier is not None
    async with asyncio.timeout(60):
        await notifier.drain()


def received(receiver: receivers.Receiver) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in receiver.requests]


def titles(receiver: receivers.Receiver) -> list[str]:
    return [item["title"] for item in received(receiver)]


def controller(tmp_path: Path, repo: GitRepo, hosts: Path, receiver: receivers.Receiver) -> facade.Controller:
    port = receiver.url.rsplit(":", 1)[1]
    settings = config.ControllerConfig(
        repositories=(
            config.RepositoryConfig(name="hosts", url=repo.url, sandbox=sandbox.Policy(writable=(hosts,))),
        ),
        data_dir=tmp_path / "data",
        notifications=subscriptions.NotificationSettings(
            subscriptions=(subscriptions.Subscription(name="chat", urls=(f"json://127.0.0.1:{port}/",)),),
            public_url="https://tn.example.com",
        ),
    )
    return facade.Controller(settings, clock=clocks.FakeClock())


async def test_a_drift_is_announced_once_until_it_is_resolved(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "fleet",
        {"truenorth.yaml": spec(hosts), "ansible/site.yml": PLAYBOOK, "ansible/inventory.yml": INVENTORY},
    )
    with receivers.receiver() as receiver:
        ctl = controller(tmp_path, repo, hosts, receiver)
        clock = ctl.clock
        assert isinstance(clock, clocks.FakeClock)
        try:
            await ctl.start()
            await settle(ctl)
            assert titles(receiver) == ["[truenorth] sync-succeeded: hosts/fleet"]
            first = received(receiver)[0]
            assert repo.head()[:12] in first["message"]
            assert "https://tn.example.com/#/stacks/hosts/fleet" in first["message"]

            (hosts / "web1.conf").write_text("edited by hand\n")
            for _ in range(3):  # three drift checks while the drift lasts
                before = ctl.store.count_runs(stack="fleet", kind="drift")
                await clock.advance(301)
                await settle(ctl)
                assert ctl.store.count_runs(stack="fleet", kind="drift") == before + 1
            assert titles(receiver).count("[truenorth] drift-detected: hosts/fleet") == 1
            assert "drift-resolved" not in " ".join(titles(receiver))

            (hosts / "web1.conf").write_text("managed by truenorth\n")
            for _ in range(2):
                await clock.advance(301)
                await settle(ctl)
            assert titles(receiver) == [
                "[truenorth] sync-succeeded: hosts/fleet",
                "[truenorth] drift-detected: hosts/fleet",
                "[truenorth] drift-resolved: hosts/fleet",
            ]
            deliveries = ctl.notification_deliveries()
            assert [item["status"] for item in deliveries] == ["delivered"] * 3
            assert all(item["target"] == "chat: json://" for item in deliveries)
        finally:
            await ctl.stop()


async def test_approval_required_and_an_invalid_revision_are_announced(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.mkdir()
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "fleet",
        {
            "truenorth.yaml": spec(hosts, auto_apply=False),
            "ansible/site.yml": PLAYBOOK,
            "ansible/inventory.yml": INVENTORY,
        },
    )
    with receivers.receiver() as receiver:
        ctl = controller(tmp_path, repo, hosts, receiver)
        try:
            await ctl.start()
            await settle(ctl)
            assert titles(receiver) == ["[truenorth] approval-required: hosts/fleet"]

            bad = repo.commit("broken", {"truenorth.yaml": "stacks: [{name: 1}]\n"})
            for _ in range(2):  # the same invalid revision, seen twice: announced once
                ctl.push_received(repository_urls=[repo.url], ref="refs/heads/main")
                await settle(ctl)
            errors = [item for item in received(receiver) if "source-error" in item["title"]]
            assert len(errors) == 1
            assert errors[0]["title"] == "[truenorth] source-error: hosts"
            assert bad[:12] in errors[0]["message"]
        finally:
            await ctl.stop()
