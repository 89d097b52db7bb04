"""Rendering a stack's folder into the objects it declares.

A stack's ``path`` is either a Kustomize root (rendered with ``kubectl kustomize`` and
its default load restrictor, after :mod:`~truenorth.engines.kubernetes.kustomizations`
checked the tree) or a plain folder of YAML/JSON manifests read recursively. Either way
the input is bounded (:mod:`~truenorth.engines.kubernetes.documents`), symlinks that
lead out of a folder are refused, every object must have a kind and a name, no object
appears twice, and invalid Secrets are refused without showing their values. The
stack's ``namespace`` option fills in the namespace of objects that have none. When the
stack has inputs, they are substituted into every object's string values
(:mod:`~truenorth.engines.kubernetes.substituting`, Flux's ``${NAME}`` rules) before the
objects are checked. An error about one object names where it came from: the file and
the document's index in it, or for Kustomize the index in the rendered stream (and the
source file when kustomize's ``originAnnotations`` recorded it). Formats truenorth does
not render are refused by name rather than skipped or misread: a Helm chart
(``Chart.yaml``, or ``helmCharts`` in a kustomization) and Jsonnet (``.jsonnet``,
``.libsonnet``). Hook objects (:mod:`~truenorth.engines.kubernetes.hooks`) may use
``generateName``. This is what ``truenorth render`` prints and what plans are made from.
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
from truenorth.engines.kubernetes import (
    documents,
    hooks,
    kustomizations,
    masking,
    objects,
    scopes,
    substituting,
)
from truenorth.git import errors as git_errors

__all__ = ["MANIFEST_SUFFIXES", "render", "render_folder"]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: Files of a format truenorth does not render: refused, never silently skipped.
JSONNET_SUFFIXES = (".jsonnet", ".libsonnet")
HELM_CHART_FILES = ("Chart.yaml", "Chart.yml")
#: The annotation kustomize's ``buildMetadata: [originAnnotations]`` writes.
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
_SHOWN_ORIGIN = 300
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
        substituting.SubstitutionError,
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
        manifests = reader.parse(text, source=f"the kubectl kustomize output of {path}")
    else:
        _refuse_chart(stack_dir, checkout=checkout)
        manifests = []
        for file in _manifest_files(stack_dir, checkout=checkout, limits=limits):
            relative = file.relative_to(checkout.resolve()).as_posix()
            reader.ensure_room(file.stat().st_size, source=relative)
            text = file.read_text(encoding="utf-8", errors="replace")
            manifests.extend(reader.parse(text, source=relative))
    substitution = None
    if ctx.stack.inputs or ctx.inputs:
        substitution = substituting.Substitution(ctx.inputs, max_chars=limits.max_bytes)
    return _checked(manifests, namespace=namespace, substitution=substitution, origins=reader.origins)


def _refuse_chart(folder: Path, *, checkout: Path) -> None:
    """A Helm chart is refused by name (its templates are not valid YAML to read as manifests)."""
    for name in HELM_CHART_FILES:
        if (folder / name).is_file():
            shown = folder.relative_to(checkout.resolve()).as_posix()
            raise kustomizations.SourceError(
                f"{shown} is a Helm chart ({name}): Helm charts are not supported. Commit the output of "
                "`helm template` as plain manifests (or a Kustomize folder) and point the stack at it"
            )


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
        _refuse_chart(here, checkout=checkout)
        for name in sorted(filenames):
            if name.endswith(JSONNET_SUFFIXES):
                shown = (here / name).relative_to(checkout.resolve()).as_posix()
                raise kustomizations.SourceError(
                    f"{shown}: Jsonnet is not supported. Commit the YAML or JSON it renders to "
                    "(`jsonnet -y`) instead, or move it out of the stack's folder"
                )
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


def _checked(
    manifests: list[dict[str, Any]],
    *,
    namespace: str | None,
    substitution: substituting.Substitution | None = None,
    origins: Sequence[str] = (),
) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str, str, str], str] = {}
    cluster_kinds = scopes.cluster_scoped_kinds(manifests)
    out: list[dict[str, Any]] = []
    for index, obj in enumerate(manifests):
        origin = _origin(obj, origins[index] if index < len(origins) else f"object {index + 1}")
        try:
            hook = hooks.is_hook(obj)
            ref = objects.ObjectRef.of(obj, generated=hook)
            if hook:
                hooks.split([obj])  # an unknown phase or policy, named with the object's origin
            if namespace and not ref.namespace and (ref.group, ref.kind) not in cluster_kinds:
                obj["metadata"]["namespace"] = namespace
                ref = ref.with_namespace(namespace)
            if substitution is not None:
                # Errors name the object as written (its name may hold a reference).
                substitution.apply(obj, label=ref.address)
                ref = objects.ObjectRef.of(obj, generated=hook)
            masking.validate_secret(obj)
        except objects.ManifestError as exc:
            raise objects.ManifestError(f"{origin}: {exc}") from None
        except substituting.SubstitutionError as exc:
            raise substituting.SubstitutionError(f"{origin}: {exc}") from None
        if ref.generated:  # a hook named when it is created: each one is a new object
            out.append(obj)
            continue
        key = (ref.group, ref.kind, ref.namespace, ref.name)
        if key in seen:
            raise objects.ManifestError(f"{ref.address} is declared twice: in {seen[key]} and in {origin}")
        seen[key] = origin
        out.append(obj)
    return out


def _origin(obj: dict[str, Any], where: str) -> str:
    """``where`` an object was read, with the source file kustomize recorded (originAnnotations)."""
    metadata = obj.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    recorded = annotations.get(ORIGIN_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(recorded, str):
        return where
    for line in recorded.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "path" and value.strip():
            return f"{where} (from {value.strip()[:_SHOWN_ORIGIN]})"
    return where
