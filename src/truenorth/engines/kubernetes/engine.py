"""The Kubernetes engine: render, observe, diff, apply, prune, behind the engine protocol.

Wires the pure parts (rendering, diffing, ordering, health) to the one stateful
boundary (:mod:`~truenorth.engines.kubernetes.client`), like gitops-engine's small
engine around its diff, health and sync packages. ``plan`` and ``drift`` are the same
read-only reconcile (drift is asked at the deployed revision); ``apply`` re-renders,
refuses a plan whose revision, objects or inventory changed since it was made, then
applies, waits and prunes. Every Secret value met on the way is registered with the
run's redactor before anything can print it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from truenorth.core import plans, redaction, runs
from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.kubernetes import (
    applying,
    client,
    documents,
    health,
    inventory,
    kubeconfigs,
    masking,
    objects,
    planning,
    rendering,
    targets,
)

__all__ = ["KubernetesEngine"]

RENDERED_FILENAME = "rendered.yaml"


@dataclass(frozen=True)
class _Session:
    """One operation's view of the cluster: the client, the prepared objects, the live state."""

    kube: client.KubeClient
    observation: planning.Observation
    fingerprint: str


class KubernetesEngine:
    """Plans and applies ``engine: kubernetes`` stacks (see :class:`truenorth.engines.protocol.Engine`)."""

    name = "kubernetes"

    def __init__(self, *, limits: documents.Limits | None = None, request_timeout: float = 30.0) -> None:
        self._limits = limits or documents.Limits()
        self._request_timeout = request_timeout

    # ------------------------------------------------------------------ protocol

    def render(self, ctx: protocol.StackContext) -> list[dict[str, Any]]:
        """The objects the stack declares (what ``truenorth render`` prints through :func:`to_yaml`)."""
        manifests = rendering.render(ctx, limits=self._limits)
        _learn_secrets(ctx, manifests)
        return manifests

    def plan(self, ctx: protocol.StackContext) -> plans.Plan:
        """Render, read the live objects and diff them; raises :class:`EngineError`."""
        session = self._observe(ctx, predict=True)
        try:
            plan = _shown(
                ctx,
                planning.build_plan(
                    session.observation,
                    stack=ctx.stack,
                    revision=ctx.revision,
                    plan_fingerprint=session.fingerprint,
                ),
            )
        finally:
            session.kube.close()
        # Whether `kubectl kustomize` renders in the sandbox (engines/sandbox.py).
        return dataclasses.replace(plan, meta={**plan.meta, "sandbox": _sandbox_use(ctx)})

    def drift(self, ctx: protocol.StackContext) -> plans.Plan:
        """A plan at the deployed revision: any change in it is drift (declared differences ignored)."""
        plan = self.plan(ctx)
        return dataclasses.replace(plan, meta={**plan.meta, "drift": True})

    def apply(self, ctx: protocol.StackContext, plan: plans.Plan) -> runs.RunResult:
        """Apply ``plan``; a stale plan, a refused input or an API failure gives a failed result."""
        started = _now()
        if plan.stack != ctx.stack.name or plan.engine != self.name:
            return _result(
                ctx,
                plan,
                started=started,
                status=runs.RunStatus.FAILED,
                error="the plan is for another stack or engine",
            )
        if plan.revision != ctx.revision:
            return _result(
                ctx,
                plan,
                started=started,
                status=runs.RunStatus.FAILED,
                error=f"stale plan: it was made for revision {plan.revision}, not {ctx.revision}; plan again",
            )
        try:
            session = self._observe(ctx, predict=False)
        except protocol.EngineError as exc:
            return _result(ctx, plan, started=started, status=runs.RunStatus.FAILED, error=str(exc))
        except Exception as exc:  # never raise for an engine failure: report it on the run
            return _result(
                ctx, plan, started=started, status=runs.RunStatus.FAILED, error=f"apply failed: {exc}"
            )
        try:
            if session.fingerprint != plan.fingerprint:
                return _result(
                    ctx,
                    plan,
                    started=started,
                    status=runs.RunStatus.FAILED,
                    error="stale plan: the rendered objects or the inventory changed since it was made; plan again",
                )
            return self._apply(ctx, plan, started=started, session=session)
        except Exception as exc:  # an engine failure is a failed run, never an exception
            return _result(
                ctx, plan, started=started, status=runs.RunStatus.FAILED, error=f"apply failed: {exc}"
            )
        finally:
            session.kube.close()

    def version(self) -> str | None:
        """kubectl's client version (it renders Kustomize folders), or None when it is missing."""
        try:
            result = processes.run(
                ["kubectl", "version", "--client", "-o", "json"],
                cwd=Path.cwd(),
                env=_tool_env(),
                timeout=30.0,
                redactor=redaction.Redactor(),
            )
        except processes.ProgramMissing:
            return None
        if not result.ok:
            return None
        try:
            info = json.loads(result.stdout)
            version = str(info["clientVersion"]["gitVersion"])
            kustomize = info.get("kustomizeVersion")
        except (ValueError, KeyError, TypeError):
            return None
        return f"{version} (kustomize {kustomize})" if kustomize else version

    def health(self, ctx: protocol.StackContext) -> tuple[health.HealthStatus, dict[str, health.Health]]:
        """The live health of every object the stack declares, and the worst of them."""
        plan = self.plan(ctx)
        found = {
            key: health.Health(health.HealthStatus(value["status"]), value.get("message", ""))
            for key, value in plan.meta.get("object_health", {}).items()
        }
        return plan.health or health.worst(item.status for item in found.values()), found

    # ------------------------------------------------------------------ internals

    def _observe(self, ctx: protocol.StackContext, *, predict: bool) -> _Session:
        name = ctx.stack.name
        options = ctx.stack.kubernetes
        manifests = self.render(ctx)
        _write_rendered(ctx, manifests)
        if not manifests and not options.allow_empty:
            raise protocol.EngineError(
                f"stack {name}: {ctx.stack.path} renders no objects; refusing an empty revision, which would "
                "prune everything (set allow_empty: true to allow it)"
            )
        access = kubeconfigs.load(ctx.settings, stack=name)
        ctx.redactor.add(*_credentials(access.config))
        try:
            known = inventory.load(ctx.state_dir, stack=name)
            kube = client.KubeClient(access, redactor=ctx.redactor, timeout=self._request_timeout)
        except (inventory.InventoryError, client.ClientError) as exc:
            raise protocol.EngineError(ctx.redactor(f"stack {name}: {exc}")) from None
        try:
            prepared = targets.prepare(
                manifests,
                stack=name,
                namespace=options.namespace or access.namespace,
                resolve=kube.resource_type,
            )
            observation = planning.observe(kube, prepared, stack=name, known=known, predict=predict)
        except (client.ClientError, targets.UnknownKindError, objects.ManifestError) as exc:
            kube.close()
            raise protocol.EngineError(ctx.redactor(f"stack {name}: {exc}")) from None
        except BaseException:
            kube.close()
            raise
        fingerprint = planning.fingerprint(revision=ctx.revision, prepared=prepared, known=known)
        return _Session(kube=kube, observation=observation, fingerprint=fingerprint)

    def _apply(
        self, ctx: protocol.StackContext, plan: plans.Plan, *, started: datetime, session: _Session
    ) -> runs.RunResult:
        options = ctx.stack.kubernetes
        kube, observation = session.kube, session.observation

        def say(line: str) -> None:
            if ctx.on_output is not None:
                ctx.on_output(ctx.redactor(line))

        outcome = applying.apply_steps(
            kube,
            observation,
            stack=ctx.stack.name,
            revision=ctx.revision,
            wait=options.wait,
            prune=options.prune,
            timeout=options.timeout,
            cancelled=ctx.cancel.wait,
            say=say,
            state_dir=ctx.state_dir,
        )
        statuses = dict(outcome.health)
        unread = False
        try:
            for target in observation.targets:
                if target.ref.address not in statuses:
                    rtype = kube.resource_type(target.ref.api_version, target.ref.kind) or target.rtype
                    statuses[target.ref.address] = health.assess(kube.get(rtype, target.ref))
        except client.ClientError as exc:
            outcome.lines.append(f"health unknown: {exc}")
            unread = True
        rolled = health.worst(item.status for item in statuses.values())
        if unread:
            rolled = health.HealthStatus.UNKNOWN
        # For people reading the run's log; the controller takes ``health`` from the result.
        lines = [*outcome.lines, f"health: {rolled.value}"]
        lines.extend(
            f"  {key}: {value.status.value}" + (f" ({value.message})" if value.message else "")
            for key, value in sorted(statuses.items())
        )
        result = _result(
            ctx,
            plan,
            started=started,
            status=outcome.status,
            error=outcome.error,
            output="\n".join(lines) + "\n",
        )
        return dataclasses.replace(result, health=rolled)


def _shown(ctx: protocol.StackContext, plan: plans.Plan) -> plans.Plan:
    """``plan`` as people see it: known secrets and URL credentials in its text masked.

    Only the shown plan: what is applied is rendered again from the repository, never
    read back from these values.
    """
    changes = tuple(
        dataclasses.replace(
            change,
            before=ctx.redactor.value(change.before),
            after=ctx.redactor.value(change.after),
            diff=ctx.redactor(change.diff),
            reason=ctx.redactor(change.reason),
        )
        for change in plan.changes
    )
    return dataclasses.replace(plan, changes=changes, output=ctx.redactor(plan.output))


def _learn_secrets(ctx: protocol.StackContext, manifests: list[dict[str, Any]]) -> None:
    for obj in manifests:
        values = masking.secret_values(obj)
        if values:
            ctx.redactor.add(*values)


def _write_rendered(ctx: protocol.StackContext, manifests: list[dict[str, Any]]) -> None:
    """Keep the rendered objects (Secrets masked) with the run, for history."""
    try:
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        (ctx.run_dir / RENDERED_FILENAME).write_text(documents.to_yaml(manifests), encoding="utf-8")
    except OSError:
        pass  # history is a convenience; the plan itself does not depend on it


def _credentials(config: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for entry in config.get("users", []):
        user = entry.get("user") if isinstance(entry, Mapping) else None
        if isinstance(user, Mapping):
            for key in ("token", "password", "client-key-data"):
                if isinstance(user.get(key), str):
                    found.append(user[key])
    return found


def _result(
    ctx: protocol.StackContext,
    plan: plans.Plan,
    *,
    started: datetime,
    status: runs.RunStatus,
    error: str = "",
    output: str = "",
) -> runs.RunResult:
    return protocol.apply_result(ctx, plan, started=started, status=status, output=output, error=error)


def _now() -> datetime:
    return datetime.now(UTC)


def _tool_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def _sandbox_use(ctx: protocol.StackContext) -> str:
    """``meta["sandbox"]``: whether this stack's ``kubectl kustomize`` runs in the sandbox."""
    try:
        return sandboxing.describe(sandboxing.resolve_mode(ctx.sandbox.mode), ctx.sandbox.mode)
    except sandboxing.SandboxUnavailable:
        return f"unavailable: {sandboxing.probe().reason}"
