"""``python -m benchmarks``: run the benchmarks, write ``results.json`` and ``docs/benchmarks.md``.

``--smoke`` runs everything at a tiny size (``make test`` checks it still works);
``--only B7,B8`` runs some and prints them without writing the files unless
``--results``/``--report`` are given.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from benchmarks import catalog, measuring, reporting

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, not speed")
    parser.add_argument("--only", default="", help="comma-separated ids (startup, B1 ... B10)")
    parser.add_argument("--results", type=Path, help="where to write results.json")
    parser.add_argument("--report", type=Path, help="where to write the Markdown report")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile each benchmark with pyinstrument (this process only: time spent in a child "
        "process shows as waiting) and print where its time went",
    )
    options = parser.parse_args(argv)
    chosen = [item.strip() for item in options.only.split(",") if item.strip()]
    known = {b.key for b in catalog.BENCHMARKS}
    if unknown := [key for key in chosen if key not in known]:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    writes = not chosen or options.results is not None or options.report is not None
    results_path = options.results or ROOT / "benchmarks" / "results.json"
    report_path = options.report or ROOT / "docs" / "benchmarks.md"
    size = measuring.Size(smoke=options.smoke, rounds=1 if options.smoke else 5)
    machine = measuring.machine()
    measurements: list[measuring.Measurement] = []
    failed: list[str] = []
    selected = sorted(
        (b for b in catalog.BENCHMARKS if not chosen or b.key in chosen), key=lambda b: b.cost
    )  # stable: catalog order, the slow ones last
    commit, dirty = measuring.commit_of(ROOT)

    def save(pending: list[str]) -> None:
        results = reporting.document(
            measurements, commit=commit, dirty=dirty, machine=machine, smoke=options.smoke, pending=pending
        )
        reporting.write(results, json_path=results_path, markdown_path=report_path)

    for position, benchmark in enumerate(selected):
        print(f"{benchmark.key}: {benchmark.title} ...", file=sys.stderr, flush=True)
        try:
            found = _profiled(benchmark, size) if options.profile else benchmark.measure(size)
        except Exception:  # one broken benchmark must not hide the others' numbers
            traceback.print_exc()
            failed.append(benchmark.key)
            continue
        for item in found:
            verdict = "met" if item.met else "NOT MET"
            print(
                f"  {item.key}: {item.value:g} {item.unit} (goal {item.goal:g}: {verdict}) {dict(item.detail)}",
                file=sys.stderr,
                flush=True,
            )
        measurements.extend(found)
        if writes and position + 1 < len(selected):
            # A full run takes long: what is measured so far is kept if it is cut short.
            save([b.key for b in selected[position + 1 :]])
    if writes:
        save([])
        print(f"wrote {results_path} and {report_path}", file=sys.stderr)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _profiled(benchmark: catalog.Benchmark, size: measuring.Size) -> list[measuring.Measurement]:
    """``benchmark.measure(size)`` under pyinstrument (a dev extra); the profile goes to stderr."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    profiler.start()
    try:
        return benchmark.measure(size)
    finally:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, flat=True)[:6000], file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
