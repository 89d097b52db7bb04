"""Fixtures for the Terraform engine: sealed checkouts, stack contexts, a shared plugin cache.

Checkouts are plain directories sealed read-only like the Git adapter's snapshots
(:func:`truenorth.git.trees.seal`); no Git is needed to drive the engine. Every test
gets its own data dir; the Terraform plugin cache is shared per test session (worker).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from truenorth.core import specs
from truenorth.engines import protocol
from truenorth.engines.terraform import TerraformEngine
from truenorth.git import trees

TERRAFORM = shutil.which("terraform") or "/usr/local/bin/terraform"


@pytest.fixture(scope="session")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared ``cache_dir`` (Terraform's plugin cache lives below it)."""
    return tmp_path_factory.mktemp("tf-cache")


@pytest.fixture
def engine() -> TerraformEngine:
    return TerraformEngine(binary_paths={"terraform": TERRAFORM})


def stack(name: str, path: str | None = None, **options: Any) -> specs.StackSpec:
    """A Terraform stack spec; ``options`` are TerraformOptions fields."""
    depends_on = tuple(options.pop("depends_on", ()))
    return specs.StackSpec(
        name=name,
        engine="terraform",
        path=path or f"stacks/{name}",
        depends_on=depends_on,
        options=specs.TerraformOptions(**options),
    )


def tree_digest(root: Path) -> str:
    """Names, link targets and contents of everything under ``root``."""
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            path = Path(directory, name)
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            elif path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass
class Lab:
    """Builds checkouts and stack contexts under one test's tmp dir."""

    root: Path
    cache_dir: Path
    runs: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def checkout(
        self, files: Mapping[str, str], *, name: str = "rev1", links: Mapping[str, str] | None = None
    ) -> Path:
        """A sealed checkout holding ``files`` (and symlinks ``links``: path -> target)."""
        base = self.root / "snapshots" / name
        for rel, text in files.items():
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        for rel, to in (links or {}).items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).symlink_to(to)
        trees.seal(base)
        return base

    def ctx(
        self,
        spec: specs.StackSpec,
        checkout: Path,
        *,
        revision: str = "a" * 40,
        **extra: Any,
    ) -> protocol.StackContext:
        """A context with a fresh run dir; output lines are collected in ``lines``."""
        self.runs += 1
        extra.setdefault("on_output", self.lines.append)
        return protocol.StackContext(
            stack=spec,
            checkout=checkout,
            revision=revision,
            run_dir=self.data / "runs" / str(self.runs),
            state_dir=self.data / "state" / spec.name,
            cache_dir=self.cache_dir,
            **extra,
        )


@pytest.fixture
def lab(tmp_path: Path, plugin_cache: Path) -> Iterator[Lab]:
    made = Lab(root=tmp_path, cache_dir=plugin_cache)
    yield made
    snapshots = tmp_path / "snapshots"
    if snapshots.exists():
        trees.remove(snapshots)
