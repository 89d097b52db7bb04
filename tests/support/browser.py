"""Headless Chromium for tests of the web UI: the DOM a real browser builds, and a screenshot.

Chromium runs with a throwaway profile, no sandbox (containers), no background network,
and a virtual time budget, so timers and fetches of the page run to quiescence before the
DOM is dumped. Each call is one process with a hard timeout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

__all__ = ["Chromium", "find_chromium"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str:
    """The Chromium binary, or a failure saying how to get it."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        "chromium not found on PATH: the web UI test needs a real browser "
        "(`make test` installs it via scripts/install-system-deps.sh; or `apt-get install chromium`)"
    )


class Chromium:
    """Runs headless Chromium against a URL, with its profile under ``workdir``."""

    def __init__(self, workdir: Path, *, budget_ms: int = 5000, timeout: float = 180.0) -> None:
        self.binary = find_chromium()
        self.workdir = workdir
        self.budget_ms = budget_ms
        self.timeout = timeout
        workdir.mkdir(parents=True, exist_ok=True)

    def _argv(self, profile: str, *extra: str) -> list[str]:
        return [
            self.binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={self.workdir / profile}",
            f"--virtual-time-budget={self.budget_ms}",
            *extra,
        ]

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"chromium did not finish in {self.timeout}s: {argv}") from exc
        if done.returncode != 0:
            raise AssertionError(f"chromium exited with {done.returncode}\n{done.stderr[-4000:]}")
        return done

    def dump_dom(self, url: str) -> str:
        """The serialized DOM after the page's scripts ran for the virtual time budget."""
        return self._run(self._argv("profile-dom", "--dump-dom", url)).stdout

    def screenshot(self, url: str, target: Path, *, size: tuple[int, int] = (1280, 800)) -> Path:
        """A PNG of the page at ``size``, written to ``target``."""
        width, height = size
        self._run(
            self._argv("profile-shot", f"--screenshot={target}", f"--window-size={width},{height}", url)
        )
        if not target.exists() or target.read_bytes()[:8] != PNG_SIGNATURE:
            raise AssertionError(f"chromium wrote no PNG at {target}")
        return target
