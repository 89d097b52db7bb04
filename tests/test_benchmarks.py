"""``make bench`` keeps working: its smoke run (tiny sizes) writes well-formed results and a report.

The smoke run goes through every benchmark's real work (the CLI applying real Terraform,
``truenorth serve`` processes converging Terraform and Ansible stacks on push webhooks,
three replicas sharing a throwaway PostgreSQL, bubblewrap, the API over a real store) at
sizes that take seconds; its numbers mean nothing and are not checked against goals, only
for their shape.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import catalog

pytestmark = [
    pytest.mark.slow,  # Terraform, Ansible, controllers, bubblewrap, git, at tiny sizes
    pytest.mark.postgres,  # B9 and B10: three replicas on a throwaway PostgreSQL
    pytest.mark.timeout(900),  # the whole smoke run, as the subprocess's own limit
]

ROOT = Path(__file__).resolve().parents[1]


def test_the_smoke_run_writes_every_benchmark_with_a_positive_value(tmp_path: Path) -> None:
    results, report = tmp_path / "results.json", tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--results", str(results), "--report", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    document = json.loads(results.read_text())
    assert set(document) >= {"commit", "machine", "results"}
    assert len(document["commit"]) == 40 and document["machine"] and document["smoke"] is True
    measured = document["results"]
    for key, result in measured.items():
        assert set(result) == {"value", "unit", "goal", "met"}, key
        assert isinstance(result["value"], int | float) and result["value"] > 0, (key, result)
        assert isinstance(result["goal"], int | float) and result["goal"] > 0, (key, result)
        assert isinstance(result["unit"], str) and result["unit"], (key, result)
        assert result["met"] is (result["value"] <= result["goal"]), (key, result)
    # Every benchmark the catalog lists reported, and none that is only planned.
    assert {key.partition(".")[0] for key in measured} == {b.key for b in catalog.BENCHMARKS}
    assert not {p.key for p in catalog.PLANNED} & set(measured)
    assert {
        "startup.help",
        "startup.validate",
        "B1.cli",
        "B1.controller",
        "B2",
        "B2.pull",
        "B3",
        "B4",
        "B5.cpu",
        "B5.memory",
        "B6.overview",
        "B6.filtered",
        "B6.metrics",
        "B7",
        "B8",
        "B9",
        "B9.cpu",
        "B9.memory",
        "B10",
    } <= set(measured)
    text = report.read_text()
    assert "SMOKE RUN" in text and document["commit"][:12] in text
    assert all(f"| {key} |" in text for key in measured)
