"""Test harness: a GitOps repository with one Kubernetes stack, and the clusters it targets.

:class:`Workspace` is a real Git repository in a tmp dir whose ``truenorth.yaml``
declares one ``engine: kubernetes`` stack; each :meth:`Workspace.commit` replaces the
stack folder and returns the new revision, and :meth:`Workspace.ctx` builds the
``StackContext`` the controller would. A :class:`Cluster` is what the scenarios look at
the cluster through: the test API server (:class:`ServerCluster`) or a real cluster
through ``kubectl`` (:class:`RealCluster`), so the same scenarios run on both.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from tests.support.gitrepos import GitRepo
from tests.support.kubeapi import KubeAPIServer
from truenorth.core import redaction, specs
from truenorth.engines import protocol

__all__ = ["Cluster", "RealCluster", "ServerCluster", "Workspace"]

STACK_DIR = "deploy/app"


class Cluster(Protocol):
    kubeconfig: Path
    namespace: str
    simulated: bool

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None: ...

    def patch(
        self, api_version: str, kind: str, name: str, patch: dict[str, Any], namespace: str = ""
    ) -> None: ...

    def create(self, obj: dict[str, Any]) -> None: ...


@dataclass
class ServerCluster:
    api: KubeAPIServer
    kubeconfig: Path
    namespace: str = "team-a"
    simulated: bool = True

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.api.object(api_version, kind, name, namespace)

    def patch(
        self, api_version: str, kind: str, name: str, patch: dict[str, Any], namespace: str = ""
    ) -> None:
        self.api.edit(api_version, kind, name, patch, namespace=namespace)

    def create(self, obj: dict[str, Any]) -> None:
        self.api.seed(obj)


@dataclass
class RealCluster:
    kubeconfig: Path
    namespace: str
    context: str = ""
    simulated: bool = False

    def _kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        context = ["--context", self.context] if self.context else []
        return subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *context, *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    @staticmethod
    def _resource(api_version: str, kind: str) -> str:
        group = api_version.rpartition("/")[0]
        return f"{kind.lower()}.{group}" if group else kind.lower()

    def get(self, api_version: str, kind: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        scope = ["-n", namespace] if namespace else []
        done = self._kubectl(
            "get", self._resource(api_version, kind), name, *scope, "-o", "json", check=False
        )
        if done.returncode != 0:
            if "NotFound" in done.stderr or "not found" in done.stderr:
                return None
            raise RuntimeError(done.stderr)
        return dict(json.loads(done.stdout))

    def patch(
        self, api_version: str, kind: str, name: str, patch: dict[str, Any], namespace: str = ""
    ) -> None:
        scope = ["-n", namespace] if namespace else []
        self._kubectl(
            "patch",
            self._resource(api_version, kind),
            name,
            *scope,
            "--type",
            "merge",
            "-p",
            json.dumps(patch),
        )

    def create(self, obj: dict[str, Any]) -> None:
        self._kubectl("create", "-f", "-", stdin=json.dumps(obj))

    def delete_namespace(self) -> None:
        self._kubectl(
            "delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false", check=False
        )


@dataclass
class Workspace:
    root: Path
    settings: dict[str, str]
    stack: str = "app"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.repo = GitRepo(self.root / "repo")
        self.state_dir = self.root / "state"
        self.cache_dir = self.root / "cache"
        self.runs = self.root / "runs"
        self.redactor = redaction.Redactor()

    def commit(self, files: dict[str, str | dict[str, Any] | list[dict[str, Any]]], **options: Any) -> str:
        """Replace the stack folder with ``files`` (objects are dumped as YAML) and commit."""
        self.options = {**self.options, **options}
        stack_dir = self.repo.path / STACK_DIR
        if stack_dir.exists():
            shutil.rmtree(stack_dir)
        stack_dir.mkdir(parents=True)
        entry = {
            "name": self.stack,
            "engine": "kubernetes",
            "path": STACK_DIR,
            "target": "test",
            **self.options,
        }
        written: dict[str, str | bytes] = {
            "truenorth.yaml": yaml.safe_dump({"version": 1, "stacks": [entry]})
        }
        for name, content in files.items():
            if isinstance(content, str):
                written[f"{STACK_DIR}/{name}"] = content
            elif isinstance(content, list):
                written[f"{STACK_DIR}/{name}"] = yaml.safe_dump_all(content)
            else:
                written[f"{STACK_DIR}/{name}"] = yaml.safe_dump(content)
        return self.repo.commit("change", written)

    def spec(self) -> specs.StackSpec:
        text = (self.repo.path / "truenorth.yaml").read_text()
        return specs.parse_spec(text).stack(self.stack)

    def ctx(self, revision: str | None = None, **settings: str) -> protocol.StackContext:
        run_dir = self.runs / uuid.uuid4().hex[:8]
        return protocol.StackContext(
            stack=self.spec(),
            checkout=self.repo.path,
            revision=revision or self.repo.head(),
            run_dir=run_dir,
            state_dir=self.state_dir,
            cache_dir=self.cache_dir,
            settings={**self.settings, **settings},
            redactor=self.redactor,
        )

    def stored_text(self) -> str:
        """Everything truenorth wrote to disk for this stack (runs and state)."""
        texts = []
        for folder in (self.runs, self.state_dir):
            if folder.exists():
                texts.extend(
                    path.read_text(errors="replace") for path in sorted(folder.rglob("*")) if path.is_file()
                )
        return "\n".join(texts)
