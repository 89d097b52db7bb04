"""Stack outputs and inputs through the API: shown where they come from, sensitive ones never.

Over the real controller's read side and a real SQLite store (as ``test_overview.py``):
outputs are recorded as an apply records them (the sensitive one sealed), a plan run as
``executing`` records its inputs, and every answer is checked for the value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.test_overview import HEADERS, SHA, Site
from truenorth.core import outputs, specs

CANARY = "tn-api-canary-93be11f0"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    built = Site(tmp_path / "data")
    try:
        yield built
    finally:
        built.close()


def test_outputs_and_inputs_are_shown_with_their_source_and_masked(site: Site) -> None:
    store, key = site.ctl.store, site.keys["infra"]
    apply_run = site.record("infra", "network")
    store.replace_outputs(
        repository=key,
        stack="network",
        revision=SHA,
        run_id=apply_run,
        outputs=(
            outputs.Output(name="cidr", value="10.0.0.0/16"),
            outputs.Output(name="token", value=CANARY, sensitive=True),
        ),
    )
    plan_run = store.start_run(stack="app", repository=key, revision=SHA, kind="plan")
    inputs = [
        {"name": "cidr", "source": "network.cidr", "stack": "network", "output": "cidr", "known": True,
         "sensitive": False, "value": "10.0.0.0/16", "digest": outputs.digest_of("10.0.0.0/16")},
        {"name": "region", "source": "zone.region", "stack": "zone", "output": "region", "known": False,
         "sensitive": False, "value": None, "digest": ""},
        {"name": "token", "source": "network.token", "stack": "network", "output": "token", "known": True,
         "sensitive": True, "value": outputs.MASK, "digest": "k" * 64},
    ]  # fmt: skip
    store.finish_run(plan_run, status="succeeded", summary={"has_changes": True, "inputs": inputs})
    store.upsert_stack(
        repository=key, name="app", engine="terraform", sync_state="out-of-sync", last_run_id=plan_run
    )
    refs = (
        outputs.InputRef(name="cidr", stack="network", output="cidr"),
        outputs.InputRef(name="region", stack="zone", output="region"),
        outputs.InputRef(name="token", stack="network", output="token"),
    )
    site.ctl.loops["infra"].repo.spec = specs.RepoSpec(
        stacks=(
            specs.StackSpec(name="network", engine="terraform", path="network"),
            specs.StackSpec(name="zone", engine="terraform", path="zone"),
            specs.StackSpec(name="app", engine="terraform", path="app", inputs=refs),
        )
    )

    answers = []
    listed = site.client.get("/api/v1/stacks/network/outputs", headers=HEADERS)
    assert listed.status_code == 200
    answers.append(listed.text)
    assert listed.json() == {
        "repository": "infra",
        "stack": "network",
        "outputs": [
            {"name": "cidr", "value": "10.0.0.0/16", "sensitive": False, "revision": SHA},
            {"name": "token", "value": "(sensitive value)", "sensitive": True, "revision": SHA},
        ],
    }
    network = site.client.get("/api/v1/stacks/network", headers=HEADERS).json()
    answers.append(str(network))
    assert network["outputs"] == listed.json()["outputs"]

    app = site.client.get("/api/v1/stacks/app", headers=HEADERS).json()
    answers.append(str(app))
    assert [(i["name"], i["source"], i["known"], i["value"], i["shown"]) for i in app["inputs"]] == [
        ("cidr", "network.cidr", True, "10.0.0.0/16", '"10.0.0.0/16"'),
        ("region", "zone.region", False, None, "(known after zone applies)"),
        ("token", "network.token", True, "(sensitive value)", "(sensitive value)"),
    ]
    plan = site.client.get("/api/v1/stacks/app/plan", headers=HEADERS).json()
    answers.append(str(plan))
    assert [(i["name"], i["source"], i["value"]) for i in plan["inputs"]] == [
        ("cidr", "network.cidr", "10.0.0.0/16"),
        ("region", "zone.region", None),
        ("token", "network.token", "(sensitive value)"),
    ]
    assert "inputs" not in plan["summary"]  # the summary stays its counters

    assert site.client.get("/api/v1/stacks/nope/outputs", headers=HEADERS).status_code == 404
    assert site.client.get("/api/v1/stacks/network/outputs").status_code == 401
    spec = site.client.get("/api/v1/openapi.json").json()
    assert "/api/v1/stacks/{name}/outputs" in spec["paths"]
    answers.append(str(spec))
    assert not any(CANARY in text for text in answers)
    # Sealed at rest: the database holds neither the value nor anything it could be guessed from.
    database = site.settings.data_dir / "truenorth.db"
    assert not any(
        CANARY.encode() in path.read_bytes()
        for path in database.parent.glob("truenorth.db*")
        if path.is_file()
    )
