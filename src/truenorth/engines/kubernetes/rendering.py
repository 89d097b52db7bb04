"""Rendering a stack's folder into the objects it declares.

A stack's ``path`` is either a Kustomize root (rendered with ``kubectl kustomize`` and
its default load restrictor, after :mod:`~truenorth.engines.kubernetes.kustomizations`
checked the tree) or a plain folder of YAML/JSON manifests read recursively. Either way
the input is bounded (:mod:`~truenorth.engines.kubernetes.documents`), symlinks that
lead out of a folder are refused, every object must have a kind and a name, no object
appears twice, and invalid Secrets are refused without showing their values. The
stack's ``namespace`` option fills in the namespace of objects that have none. This is
what ``truenorth render`` prints and what plans are made from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from truenorth import paths
from truenorth.core import specs
from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.kubernetes import documents, kustomizations, masking, objects, scopes
from truenorth.git import errors as git_errors

__all__ = ["MANIFEST_SUFFIXES", "render", "render_folder"]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
KUSTOMIZE_TIMEOUT = 120.0


def render(ctx: protocol.StackContext, *, limits: documents.Limits | None = None) -> list[dict[str, Any]]:
    """The objects the stack declares at ``ctx.revision``; :class:`EngineError` when it cannot."""
    options = ctx.stack.kubernetes
    allowed = [h.strip() for h in ctx.settings.get("allowed_remote_hosts", "").split(",") if h.strip()]
    try:
        return render_folder(
            ctx.checkout,
            ctx.stack.path,
            namespace=options.namespace,
            allowed_hosts=allowed,
            kubectl=ctx.settings.get("kubectl", "kubectl"),
            home=ctx.cache_dir / "kubernetes-home",
            timeout=min(ctx.timeout, KUSTOMIZE_TIMEOUT),
            ctx=ctx,
            limits=limits or documents.Limits(),
        )
    except (
        documents.DocumentError,
        kustomizations.SourceError,
        objects.ManifestError,
        paths.PathEscapeError,
    ) as exc:
        raise protocol.EngineError(ctx.redactor(f"stack {ctx.stack.name}: {exc}")) from None


def render_folder(
    checkout: Path,
    path: str,
    *,
    namespace: str | None,
    allowed_hosts: Sequence[str],
    kubectl: str,
    home: Path,
    timeout: float,
    ctx: protocol.StackContext,
    limits: documents.Limits,
) -> list[dict[str, Any]]:
    """Render ``checkout/path``; raises the module-specific errors :func:`render` wraps."""
    problem = specs.check_relative_path(path)
    if problem:
        raise kustomizations.SourceError(f"path {problem}")
    stack_dir = paths.resolve_inside(checkout, path)
    if not stack_dir.is_dir():
        raise kustomizations.SourceError(f"path {path!r} is not a folder in the repository")
    _refuse_links(checkout, stack_dir)
    reader = documents.Reader(limits=limits)
    if kustomizations.find_kustomization(stack_dir) is not None:
        for root in kustomizations.local_roots(stack_dir, checkout=checkout, allowed_hosts=allowed_hosts):
            _refuse_links(checkout, root)
        text = _kustomize(stack_dir, kubectl=kubectl, home=home, timeout=timeout, ctx=ctx, limits=limits)
        manifests = reader.parse(text, source=f"{path} (kubectl kustomize)")
    else:
        manifests = []
        for file in _manifest_files(stack_dir, checkout=checkout, limits=limits):
            relative = file.relative_to(checkout.resolve()).as_posix()
            reader.ensure_room(file.stat().st_size, source=relative)
            text = file.read_text(encoding="utf-8", errors="replace")
            manifests.extend(reader.parse(text, source=relative))
    return _checked(manifests, namespace=namespace)


def _refuse_links(checkout: Path, folder: Path) -> None:
    relative = folder.relative_to(checkout.resolve()).as_posix()
    escaping = paths.escaping_links(checkout, relative)
    if escaping:
        listed = ", ".join(escaping[:5]) + (" ..." if len(escaping) > 5 else "")
        raise git_errors.PathEscapeError(f"symlinks lead out of {relative}: {listed}")


def _manifest_files(stack_dir: Path, *, checkout: Path, limits: documents.Limits) -> list[Path]:
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(stack_dir):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        here = Path(directory)
        if here != stack_dir and kustomizations.find_kustomization(here) is not None:
            shown = here.relative_to(checkout.resolve()).as_posix()
            raise kustomizations.SourceError(
                f"{shown} is a Kustomize root inside a plain manifest folder: point a stack at it "
                "or list it in a kustomization.yaml"
            )
        for name in sorted(filenames):
            if not name.startswith(".") and name.endswith(MANIFEST_SUFFIXES):
                found.append(here / name)
        if len(found) > limits.max_documents:
            raise documents.DocumentError(f"more than {limits.max_documents} manifest files (limit)")
    return found


def _kustomize(
    stack_dir: Path,
    *,
    kubectl: str,
    home: Path,
    timeout: float,
    ctx: protocol.StackContext,
    limits: documents.Limits,
) -> str:
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    argv = [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsRootOnly", "--", str(stack_dir)]
    try:
        # Sandboxed (engines/sandbox.py): the snapshot read-only, its own HOME writable.
        sandbox = sandboxing.confine(
            ctx.sandbox, read_only=(ctx.checkout, stack_dir), writable=(home,), home=home
        )
        # The rendered manifests are what gets applied: verbatim, never masked.
        result = processes.run(
            argv,
            cwd=stack_dir,
            env=env,
            timeout=timeout,
            redactor=ctx.redactor,
            cancel=ctx.cancel,
            stdout_is_data=True,
            sandbox=sandbox,
            limits=ctx.limits,
        )
    except sandboxing.SandboxUnavailable as exc:
        raise kustomizations.SourceError(str(exc)) from None
    except processes.ProgramMissing:
        raise kustomizations.SourceError(
            f"{kubectl} is not installed: it is needed to render Kustomize folders"
        ) from None
    if not result.ok:
        raise kustomizations.SourceError("kubectl kustomize failed: " + _klog_free(result.describe_failure()))
    if len(result.stdout.encode("utf-8", "replace")) > limits.max_bytes:
        raise documents.DocumentError(f"kustomize output is larger than the {limits.max_bytes} byte limit")
    return result.stdout


def _klog_free(text: str) -> str:
    """kubectl's error without the klog prefix (``E1126 05:45:05.77 6711 run.go:72]``)."""
    lines = []
    for line in text.splitlines():
        head, sep, rest = line.partition("] ")
        lines.append(rest if sep and head[:1] in "EWIF" and "run.go" in head else line)
    return "\n".join(lines)


def _checked(manifests: list[dict[str, Any]], *, namespace: str | None) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str, str, str], int] = {}
    cluster_kinds = scopes.cluster_scoped_kinds(manifests)
    out: list[dict[str, Any]] = []
    for obj in manifests:
        ref = objects.ObjectRef.of(obj)
        masking.validate_secret(obj)
        if namespace and not ref.namespace and (ref.group, ref.kind) not in cluster_kinds:
            obj["metadata"]["namespace"] = namespace
            ref = ref.with_namespace(namespace)
        key = (ref.group, ref.kind, ref.namespace, ref.name)
        if key in seen:
            raise objects.ManifestError(f"{ref.address} is declared twice")
        seen[key] = len(out)
        out.append(obj)
    return out
