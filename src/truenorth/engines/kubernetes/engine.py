"""The Kubernetes engine: render, observe, diff, apply, prune, behind the engine protocol.

Wires the pure parts (rendering, diffing, ordering, health) to the one stateful
boundary (:mod:`~truenorth.engines.kubernetes.client`), like gitops-engine's small
engine around its diff, health and sync packages. ``plan`` and ``drift`` are the same
read-only reconcile (drift is asked at the deployed revision); ``apply`` re-renders,
refuses a plan whose revision, objects or inventory changed since it was made, then
applies, waits and prunes, then reads the outputs the stack declares from the live
objects (:mod:`~truenorth.engines.kubernetes.exporting`). The stack's inputs are
substituted into the rendered objects (:mod:`~truenorth.engines.kubernetes.substituting`)
and recorded on the plan.

Two redactors mask free text. The run's own (``ctx.redactor``: configured secrets,
sensitive inputs, the stack's sensitive outputs, kubeconfig credentials) passes over the
shown plan and what ``truenorth render`` prints, where Secret values are masked by
structure (:mod:`~truenorth.engines.kubernetes.masking`). A copy of it that also knows
every rendered Secret value (clear, base64 and decoded: :func:`_echoing`) passes over
whatever can echo an object body: API errors, apply and health lines, the run's error.
Secret values come from Git in clear and are often also names (a ``secretGenerator``
file ``dbpass.txt`` holding ``dbpass``): masking them in the shown plan would only mask
object, volume and file names.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from truenorth.core import outputs as stack_outputs
from truenorth.core import plans, redaction, runs
from truenorth.engines import processes, protocol
from truenorth.engines import sandbox as sandboxing
from truenorth.engines.kubernetes import (
    applying,
    client,
    documents,
    exporting,
    health,
    hooks,
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
#: The most characters of an output's value an apply's log line shows.
_SHOWN_OUTPUT = 200


@dataclass(frozen=True)
class _Session:
    """One operation's view of the cluster: the client, the prepared objects, the live state."""

    kube: client.KubeClient
    observation: planning.Observation
    fingerprint: str
    #: The run's redactor plus every rendered Secret value, for text that can echo an object.
    echo: redaction.Redactor


class KubernetesEngine:
    """Plans and applies ``engine: kubernetes`` stacks (see :class:`truenorth.engines.protocol.Engine`)."""

    name = "kubernetes"
    #: What replicas share through the store: the inventory pruning works from.
    shared_files: tuple[str, ...] = (inventory.FILENAME,)

    def __init__(self, *, limits: documents.Limits | None = None, request_timeout: float = 30.0) -> None:
        self._limits = limits or documents.Limits()
        self._request_timeout = request_timeout

    # ------------------------------------------------------------------ protocol

    def render(self, ctx: protocol.StackContext) -> list[dict[str, Any]]:
        """The objects the stack declares (what ``truenorth render`` prints through :func:`to_yaml`)."""
        ctx.redactor.add(*stack_outputs.sensitive_values(ctx.inputs))
        return rendering.render(ctx, limits=self._limits)

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
                echo=session.echo,
            )
        except protocol.EngineError:
            raise
        except Exception as exc:  # an engine bug: its text may quote an object, Secret values too
            raise protocol.EngineError(
                session.echo(f"stack {ctx.stack.name}: cannot plan: {type(exc).__name__}: {exc}")
            ) from exc
        finally:
            session.kube.close()
        # Whether `kubectl kustomize` renders in the sandbox (engines/sandbox.py).
        return dataclasses.replace(
            plan,
            inputs=tuple(ctx.inputs[name] for name in sorted(ctx.inputs)),
            meta={**plan.meta, "sandbox": _sandbox_use(ctx)},
        )

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
        waiting = stack_outputs.unknown_inputs(ctx.inputs) or plan.waiting_for
        if waiting:  # the controller never asks; refuse rather than apply with a stale value
            return _result(
                ctx,
                plan,
                started=started,
                status=runs.RunStatus.FAILED,
                error="; ".join(f"input {item.name} is {item.placeholder()}" for item in waiting),
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
                ctx,
                plan,
                started=started,
                status=runs.RunStatus.FAILED,
                error=session.echo(f"apply failed: {exc}"),
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
        manifests = self.render(ctx)
        _write_rendered(ctx, manifests)
        echo = _echoing(ctx.redactor, manifests)
        try:
            return self._observe_rendered(ctx, manifests, echo=echo, predict=predict)
        except protocol.EngineError:
            raise
        except Exception as exc:  # an engine bug: its text may quote an object, Secret values too
            raise protocol.EngineError(
                echo(f"stack {ctx.stack.name}: cannot read the cluster: {type(exc).__name__}: {exc}")
            ) from exc

    def _observe_rendered(
        self,
        ctx: protocol.StackContext,
        manifests: list[dict[str, Any]],
        *,
        echo: redaction.Redactor,
        predict: bool,
    ) -> _Session:
        name = ctx.stack.name
        options = ctx.stack.kubernetes
        try:
            sorted_out = hooks.split(manifests)
        except objects.ManifestError as exc:
            raise protocol.EngineError(echo(f"stack {name}: {exc}")) from None
        if not sorted_out.regular and not options.allow_empty:
            raise protocol.EngineError(
                f"stack {name}: {ctx.stack.path} renders no objects; refusing an empty revision, which would "
                "prune everything (set allow_empty: true to allow it)"
            )
        access = kubeconfigs.load(ctx.settings, stack=name, target=options.target)
        credentials = _credentials(access.config)
        ctx.redactor.add(*credentials)
        echo.add(*credentials)
        try:
            known = inventory.load(ctx.state_dir, stack=name)
            kube = client.KubeClient(access, redactor=echo, timeout=self._request_timeout)
        except (inventory.InventoryError, client.ClientError) as exc:
            raise protocol.EngineError(echo(f"stack {name}: {exc}")) from None
        try:
            namespace = options.namespace or access.namespace
            prepared = targets.prepare(
                sorted_out.regular,
                stack=name,
                namespace=namespace,
                resolve=kube.resource_type,
                create_namespace=options.namespace if options.create_namespace else None,
            )
            hooked = hooks.prepare(
                sorted_out.hooks,
                stack=name,
                namespace=namespace,
                resolve=kube.resource_type,
                manifests=manifests,
            )
            observation = planning.observe(
                kube,
                prepared,
                stack=name,
                known=known,
                predict=predict,
                hooked=hooked,
                skipped=sorted_out.skipped,
            )
        except (client.ClientError, targets.UnknownKindError, objects.ManifestError) as exc:
            kube.close()
            raise protocol.EngineError(echo(f"stack {name}: {exc}")) from None
        except BaseException:
            kube.close()
            raise
        fingerprint = planning.fingerprint(
            revision=ctx.revision,
            prepared=prepared,
            known=known,
            inputs=_input_digests(ctx.inputs),
            hooked=hooked,
        )
        return _Session(kube=kube, observation=observation, fingerprint=fingerprint, echo=echo)

    def _apply(
        self, ctx: protocol.StackContext, plan: plans.Plan, *, started: datetime, session: _Session
    ) -> runs.RunResult:
        options = ctx.stack.kubernetes
        kube, observation, echo = session.kube, session.observation, session.echo

        def say(line: str) -> None:
            if ctx.on_output is not None:
                ctx.on_output(echo(line))

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
        status, error = outcome.status, outcome.error
        found: tuple[stack_outputs.Output, ...] = ()
        if status is runs.RunStatus.SUCCEEDED and ctx.stack.outputs:
            try:
                found = self._outputs(ctx, kube, echo=echo)
            except (exporting.ExportError, client.ClientError) as exc:
                status, error = runs.RunStatus.FAILED, f"the apply succeeded but {exc}"
                lines.append(f"error: {error}")
                say(f"error: {error}")
            for item in found:
                shown = stack_outputs.MASK if item.sensitive else stack_outputs.canonical_json(item.value)
                if len(shown) > _SHOWN_OUTPUT:  # the log line only; the output keeps it whole
                    shown = shown[:_SHOWN_OUTPUT] + f"... ({len(shown)} characters)"
                line = f"output {item.name} = {shown}"
                lines.append(line)
                say(line)
        result = _result(
            ctx,
            plan,
            started=started,
            status=status,
            error=echo(error),
            output=echo("\n".join(lines) + "\n"),
            outputs=found,
        )
        return dataclasses.replace(result, health=rolled)

    def _outputs(
        self, ctx: protocol.StackContext, kube: client.KubeClient, *, echo: redaction.Redactor
    ) -> tuple[stack_outputs.Output, ...]:
        """The stack's declared outputs, read from the live objects; sensitive ones learnt by the redactors."""
        namespace = ctx.stack.kubernetes.namespace or kube.access.namespace
        found = exporting.read_outputs(kube, exporting.sources(ctx.stack.outputs, namespace=namespace))
        for item in found:
            if item.sensitive:
                texts = _sensitive_texts(item.value)
                ctx.redactor.add(*texts)
                echo.add(*texts)
        return found


def _shown(ctx: protocol.StackContext, plan: plans.Plan, *, echo: redaction.Redactor) -> plans.Plan:
    """``plan`` as people see it: the run's secrets and URL credentials in its text masked.

    Secret values are masked by structure already; the run's redactor does not know
    them (they would mask names). Health messages come from the cluster and may quote an
    object, so ``echo`` (which knows them) masks those. Only the shown plan: what is
    applied is rendered again from the repository, never read back from these values.
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
    meta = dict(plan.meta)
    if isinstance(meta.get("object_health"), dict):  # keyed by address: only the messages are masked
        meta["object_health"] = {
            key: {**value, "message": echo(str(value.get("message", "")))}
            if isinstance(value, dict)
            else value
            for key, value in meta["object_health"].items()
        }
    return dataclasses.replace(plan, changes=changes, output=ctx.redactor(plan.output), meta=meta)


def _echoing(base: redaction.Redactor, manifests: list[dict[str, Any]]) -> redaction.Redactor:
    """A copy of ``base`` that also masks every rendered Secret value (clear, base64, decoded).

    For text that can echo an object body (an API error, an apply or health line); never
    for the shown plan or rendered YAML, where Secret values are masked by structure.
    """
    echo = redaction.Redactor(base.secrets)
    for obj in manifests:
        echo.add(*masking.secret_values(obj))
    return echo


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
    outputs: tuple[stack_outputs.Output, ...] = (),
) -> runs.RunResult:
    return protocol.apply_result(
        ctx, plan, started=started, status=status, output=output, error=error, outputs=outputs
    )


def _input_digests(inputs: stack_outputs.Input) -> tuple[tuple[str, str], ...]:
    """What identifies each input's value, for the plan fingerprint (never a sensitive value).

    A sensitive value's digest is the keyed one the controller computed; a value without
    a digest (a caller that computed none) is identified by its canonical JSON's digest
    when it is not sensitive.
    """
    found = []
    for name in sorted(inputs):
        item = inputs[name]
        digest = item.digest or (
            "" if item.sensitive or not item.known else stack_outputs.digest_of(item.value)
        )
        found.append((name, digest))
    return tuple(found)


def _sensitive_texts(value: Any) -> tuple[str, ...]:
    """Every text form of a sensitive output's value, and a Secret data value decoded."""
    held = stack_outputs.InputValue(ref=stack_outputs.InputRef("_", "_", "_"), value=value, sensitive=True)
    texts = list(stack_outputs.sensitive_values({"_": held}))
    for text in list(texts):
        try:
            texts.append(base64.b64decode(text, validate=True).decode("utf-8"))
        except (binascii.Error, ValueError):
            continue
    return tuple(text for text in texts if text)


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
