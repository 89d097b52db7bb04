"""Answering what the API reads: repositories, pages of stacks, runs and logs, as typed views.

The server asks through a narrow read-only port (``server.ports.ControllerPort``) and
gets :mod:`.views` back with repositories named as configured; store keys, store records
and store errors stay below this module. What a stack is comes from two places: the
newest valid revision of its repository (which stacks exist, in declaration order, with
their engine and options) and the store (their recorded state and last run). A
repository without a valid revision yet shows the stacks it has recorded.

Reads are sized to a page, not to the installation: a page of the overview costs one
store query (the page's stacks joined with their last runs) when the page can be chosen
from the declared stacks alone, and one more over five short columns when it cannot: only
the stacks stored in the asked state when a filter asks for a state that a stack never
recorded cannot be in, else every stack in scope (a filter on ``unknown``, the ``state``
order, a repository without a valid revision). The ``truenorth_stacks`` gauge is one
GROUP BY query in the store (a declared stack never recorded counts as unknown). The
methods are synchronous: the API calls them from its thread pool, never on the event
loop. They only read the loop's in-memory state (``get``, never ``track()``, which would
create a track).

With replicas on PostgreSQL, only the owner of a repository (the holder of its lease)
has loaded its revision. A repository this replica does not own (or took over and has
not checked yet) is shown as its owner published it (``store/publications.py``): the
declared stacks from the published ``truenorth.yaml`` (parsed once per revision, cached
by SHA), the newest and valid revisions, source and revision errors, fetch and check
times, drift from the published names, commit details; a stack is busy while a run of
it is in flight (the page's query says so). The published views of the
repositories in scope cost one more query per answer, never cached across answers (a
page must not show a view older than the states it is read with); a spec crosses the
wire once (the query leaves out the text of revisions already parsed). On SQLite, and
for the repositories it owns, a replica answers from its memory, with no extra query.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from truenorth.controller import errors
from truenorth.controller.actions import views
from truenorth.controller.loop import contexts
from truenorth.controller.loop import repositories as repository_states
from truenorth.core import ids, outputs, runs, specs, states
from truenorth.store import database, records

__all__ = ["Reader", "StateCounts", "run_detail", "run_view"]

log = logging.getLogger(__name__)

#: How many stacks one store query reads at most when every stack is asked for.
_CHUNK = 1000

#: How many stacks are in each (sync state, health).
StateCounts = Mapping[tuple[states.SyncState, states.Health], int]
#: How many published specs a reader keeps parsed (by revision SHA).
_SPECS = 64


class _Known(NamedTuple):
    """One repository as an answer shows it, read once per answer (the loop may move on
    meanwhile): from this replica's memory (``local``) or from what its owner published."""

    state: repository_states.RepositoryState
    #: The spec of the newest valid revision (None: none yet, or unreadable).
    spec: specs.RepoSpec | None
    desired_sha: str | None
    valid_sha: str | None
    source_error: str | None
    last_fetch_at: datetime | None
    last_check_at: datetime | None
    #: Stacks found drifted (None: ask this replica's tracks).
    drifted: frozenset[str] | None
    #: Commit details the owner published, by SHA (this replica's own come first).
    commits: Mapping[str, Mapping[str, Any]]
    #: This replica works on it: its memory is the truth (locks say what is busy).
    local: bool

    @property
    def key(self) -> str:
        return self.state.key

    @property
    def name(self) -> str:
        return self.state.name


class _Candidate(NamedTuple):
    """A stack that may be shown: its repository, name, engine and declaration (None: only recorded).

    A tuple, not a dataclass: one is made per stack in scope for every page.
    """

    repo: _Known
    name: str
    engine: str
    declared: specs.StackSpec | None = None


class Reader:
    """The read side of the facade: views of one controller's repositories, stacks and runs."""

    def __init__(
        self,
        context: contexts.Context,
        repositories: Mapping[str, repository_states.RepositoryState],
        *,
        owns: Callable[[str], bool] = lambda name: True,
    ) -> None:
        self._ctx = context
        self._repos = repositories
        #: Whether this replica works on a repository (by name): always on SQLite.
        self._owns = owns
        #: Configured name by store key (fixed for the controller's life).
        self._names = {repo.key: name for name, repo in repositories.items()}
        #: Published specs parsed, by revision SHA (None: it did not parse here); API threads share it.
        self._specs: OrderedDict[str, specs.RepoSpec | None] = OrderedDict()
        self._specs_lock = threading.Lock()

    @property
    def _store(self) -> database.Store:
        return self._ctx.rt.store

    # ------------------------------------------------------------------ repositories

    def repositories(self) -> list[views.RepositoryView]:
        """Every tracked repository, in configuration order (a store query only for those
        another replica owns)."""
        with errors.store_unavailable():
            scope = self._scope(self._repos.values())
        return [
            views.RepositoryView(
                name=repo.name,
                url=repo.state.display,
                branch=repo.state.config.branch,
                revision=repo.desired_sha,
                source_error=repo.source_error,
                last_fetch_at=repo.last_fetch_at,
                last_check_at=repo.last_check_at,
                valid_revision=repo.valid_sha,
                store_key=ids.RepositoryKey(repo.key),
            )
            for repo in scope
        ]

    # ------------------------------------------------------------------ stacks

    def stack_page(self, query: views.StackQuery) -> views.StackPage:
        """The stacks ``query`` asks for: filtered, counted, one page of them as views."""
        if query.limit < 1 or query.offset < 0:
            raise errors.ControllerError(
                errors.INVALID,
                f"limit must be at least 1 and offset at least 0, got {query.limit}, {query.offset}",
            )
        with errors.store_unavailable():
            scope = self._scope(
                repo for repo in self._repos.values() if query.repository in (None, repo.name)
            )
        by_state = query.sync_state is not None or query.health is not None or query.sort == "state"
        wanted = _wanted(query)
        # A filter on a state other than the one of stacks never recorded: only recorded
        # stacks can pass it, so the store returns just those passing it (a superset the
        # exact check below narrows), never every stack's states.
        narrowed = (
            wanted is not None
            and wanted != (None, None)
            and query.sort != "state"
            and wanted[0] is not states.SyncState.UNKNOWN
            and wanted[1] is not states.Health.UNKNOWN
        )
        with errors.store_unavailable():
            if wanted is None:  # a state or health that no stack can be in
                stored: dict[tuple[str, str], records.StackBrief] = {}
                candidates: Iterable[_Candidate] = ()
            elif narrowed:
                sync_state, health = wanted
                stored = self._briefs(
                    scope,
                    sync_state=None if sync_state is None else sync_state.value,
                    health_contains=None if health is None else health.value.lower(),
                )
                candidates = _candidates(scope, stored, recorded_only=True)
            else:
                stored = self._briefs(repo for repo in scope if by_state or repo.spec is None)
                candidates = _candidates(scope, stored)
            found = [
                candidate
                for candidate in candidates
                if _matches(query, candidate, stored.get((candidate.repo.key, candidate.name)))
            ]
            if query.sort == "name":
                found.sort(key=lambda c: (c.name, c.repo.name))
            elif query.sort == "state":
                found.sort(key=lambda c: (_URGENCY[_states(stored.get((c.repo.key, c.name)))[0]], c.name))
            items = self._views(found[query.offset : query.offset + query.limit])
        return views.StackPage(
            items=tuple(items),
            total=len(found),
            source_errors=tuple(
                views.SourceError(repository=repo.name, error=repo.source_error)
                for repo in scope
                if repo.source_error
            ),
        )

    def stacks(self) -> list[views.StackView]:
        """Every stack of every repository (a store query per 1,000 stacks)."""
        with errors.store_unavailable():
            scope = self._scope(self._repos.values())
            return self._views(list(_candidates(scope, self._briefs(r for r in scope if r.spec is None))))

    def stack(self, name: str, *, repository: str | None = None) -> views.StackView:
        """One stack with its inputs (as its current plan used them) and recorded outputs, masked;
        ``repository`` (a configured name) is needed only when several declare it."""
        declared = None
        with errors.store_unavailable():
            repo = self._locate(name, repository)
            declared = _declared(repo, name)
            found = self._store.stack_page(stacks=[(repo.key, name)])
            record = found[0].stack if found else None
            plan = None
            if declared is not None and declared.inputs and record is not None:
                plan = self._current_plan(repo, name, pending=record.pending_plan_id)
            recorded = self._outputs(repo, name)
        view = self._view(repo, name, found[0] if found else None, declared=declared)
        recorded_inputs = (plan.summary.get("inputs") or ()) if plan is not None else ()
        shown_inputs = tuple(_input_view(item) for item in recorded_inputs)
        return dataclasses.replace(
            view, inputs=shown_inputs, outputs=recorded, dependents=_dependents(repo, name)
        )

    def stack_outputs(self, name: str, *, repository: str | None = None) -> views.OutputsView:
        """The outputs the stack's last successful apply recorded, sensitive values masked."""
        with errors.store_unavailable():
            repo = self._locate(name, repository)
            recorded = self._outputs(repo, name)
        return views.OutputsView(repository=repo.name, stack=name, items=recorded)

    def _outputs(self, repo: _Known, name: str) -> tuple[views.OutputView, ...]:
        found = self._store.stack_outputs(repository=repo.key, stacks=[name]).get(name, ())
        return tuple(
            views.OutputView(
                name=record.name,
                value=outputs.MASK if record.sensitive else record.value,
                sensitive=record.sensitive,
                revision=record.revision,
            )
            for record in sorted(found, key=lambda record: record.name)
        )

    def _current_plan(self, repo: _Known, name: str, *, pending: int | None) -> records.RunRecord | None:
        """The plan waiting (run ``pending``), else the stack's newest plan run.

        A stack converged in one run (an ``auto_apply`` Ansible stack: no check-mode plan
        first) has its changes on the apply run itself, which applied no stored plan
        (``plan_id`` is None): when it is newer than the newest plan run, it is the plan.
        """
        found = self._store.get_run(pending) if pending is not None else None
        if found is not None:
            return found
        planned = self._store.last_run(repository=repo.key, stack=name, kind=runs.RunKind.PLAN.value)
        applied = self._store.last_run(repository=repo.key, stack=name, kind=runs.RunKind.APPLY.value)
        if applied is None or applied.plan_id is not None or not applied.summary:
            return planned
        return applied if planned is None or applied.started_at > planned.started_at else planned

    def state_counts(self) -> StateCounts:
        """How many stacks are in each (sync state, health): one store query, for ``/metrics``.

        The store counts (GROUP BY) the recorded stacks each repository declares (all it
        recorded while it has no valid revision); a declared stack never recorded counts
        as unknown, Unknown.
        """
        with errors.store_unavailable():
            scope = self._scope(self._repos.values())
            found = self._store.state_counts(
                repositories={repo.key: None if repo.spec is None else repo.spec.names for repo in scope}
            )
        counts: Counter[tuple[states.SyncState, states.Health]] = Counter()
        recorded: Counter[str] = Counter()
        for key, sync_state, health, count in found:
            counts[_parsed(sync_state, health)] += count
            recorded[key] += count
        never = sum(len(repo.spec.stacks) - recorded[repo.key] for repo in scope if repo.spec is not None)
        if never:
            counts[states.SyncState.UNKNOWN, states.Health.UNKNOWN] += never
        return counts

    def locate(self, name: str, repository: str | None) -> repository_states.RepositoryState:
        """The repository of stack ``name``: not_found, or invalid when several have one of that name."""
        return self._locate(name, repository).state

    def _locate(self, name: str, repository: str | None) -> _Known:
        if repository is not None:
            repo = self._repos.get(repository)
            if repo is None:
                raise errors.ControllerError(errors.NOT_FOUND, f"no repository named {repository!r}")
            candidates = [repo]
        else:
            candidates = list(self._repos.values())
        with errors.store_unavailable():
            found = [repo for repo in self._scope(candidates) if self._knows(repo, name)]
        if not found:
            where = f" in repository {repository!r}" if repository else ""
            raise errors.ControllerError(errors.NOT_FOUND, f"no stack named {name!r}{where}")
        if len(found) > 1:
            raise errors.ControllerError(
                errors.INVALID,
                f"stack {name!r} exists in several repositories ({', '.join(r.name for r in found)}): "
                "name the repository",
            )
        return found[0]

    # ------------------------------------------------------------------ runs

    def current_plan(self, name: str, *, repository: str | None = None) -> views.RunDetail | None:
        """The plan waiting for approval, else the stack's newest plan run (None: never planned)."""
        with errors.store_unavailable():
            repo = self._locate(name, repository)
            record = self._store.get_stack(repository=repo.key, name=name)
            found = self._current_plan(repo, name, pending=record.pending_plan_id if record else None)
        return None if found is None else run_detail(found, repository=repo.name)

    def stack_runs(
        self, name: str, *, repository: str | None = None, offset: int = 0, limit: int = 50
    ) -> views.RunPage:
        """The stack's runs, newest first (not_found for an unknown stack)."""
        with errors.store_unavailable():
            repo = self.locate(name, repository)
            found = self._store.list_runs(stack=name, repository=repo.key, limit=limit, offset=offset)
            total = self._store.count_runs(stack=name, repository=repo.key)
        return views.RunPage(items=tuple(run_view(r, repository=repo.name) for r in found), total=total)

    def runs(self, query: views.RunQuery) -> views.RunPage:
        """Every run, newest first, of the query's stack, repository, kind and status."""
        key = None
        if query.repository is not None:
            repo = self._repos.get(query.repository)
            if repo is None:
                raise errors.ControllerError(errors.NOT_FOUND, f"no repository named {query.repository!r}")
            key = repo.key
        kind = None if query.kind is None else query.kind.value
        status = None if query.status is None else query.status.value
        with errors.store_unavailable():
            found = self._store.list_runs(
                stack=query.stack,
                repository=key,
                kind=kind,
                status=status,
                limit=query.limit,
                offset=query.offset,
            )
            total = self._store.count_runs(stack=query.stack, repository=key, kind=kind, status=status)
        return views.RunPage(
            items=tuple(run_view(r, repository=self._name(r.repository)) for r in found), total=total
        )

    def run(self, run_id: ids.RunId) -> views.RunDetail | None:
        """One run in full (None: no such run)."""
        with errors.store_unavailable():
            found = self._store.get_run(run_id)
        return None if found is None else run_detail(found, repository=self._name(found.repository))

    def run_log(self, run_id: ids.RunId, *, after: int = 0, limit: int = 1000) -> views.LogPage | None:
        """The run's log lines numbered after ``after`` (None: no such run).

        The run's status is read before its lines, so that a page saying "finished" holds
        every line up to the end.
        """
        with errors.store_unavailable():
            status = self._store.run_status(run_id)
            if status is None:
                return None
            lines = self._store.read_log(run_id, after_seq=after, limit=limit)
        return views.LogPage(
            run_id=run_id, lines=tuple(lines), finished=status not in records.ACTIVE_STATUSES
        )

    # ------------------------------------------------------------------ plumbing

    def _name(self, key: str) -> str:
        """The configured name of the repository stored as ``key`` (the key when none has it)."""
        return self._names.get(key, key)

    def _knows(self, repo: _Known, name: str) -> bool:
        if repo.spec is not None:
            return name in repo.spec.names
        return self._store.get_stack(repository=repo.key, name=name) is not None

    def _briefs(
        self,
        scope: Iterable[_Known],
        *,
        sync_state: str | None = None,
        health_contains: str | None = None,
    ) -> dict[tuple[str, str], records.StackBrief]:
        """The recorded states of the stacks of ``scope``'s repositories by (key, name): one query
        (only those stored in ``sync_state`` and with a health containing ``health_contains``)."""
        keys = [repo.key for repo in scope]
        if not keys:
            return {}
        found = self._store.stack_states(
            repositories=keys, sync_state=sync_state, health_contains=health_contains
        )
        return {(b.repository, b.name): b for b in found}

    def _views(self, chosen: Sequence[_Candidate]) -> list[views.StackView]:
        """Views of ``chosen``, in order: their records and last runs in one query per 1,000."""
        shown: list[views.StackView] = []
        for start in range(0, len(chosen), _CHUNK):
            part = chosen[start : start + _CHUNK]
            found = {
                (o.stack.repository, o.stack.name): o
                for o in self._store.stack_page(stacks=[(c.repo.key, c.name) for c in part])
            }
            shown.extend(
                self._view(c.repo, c.name, found.get((c.repo.key, c.name)), declared=c.declared) for c in part
            )
        return shown

    def _view(
        self,
        repo: _Known,
        name: str,
        found: records.StackOverview | None,
        *,
        declared: specs.StackSpec | None,
    ) -> views.StackView:
        record = found.stack if found is not None else None
        applied = record.applied_revision if record else None
        track = repo.state.tracks.get(name)
        drift = (
            (track.drift if track is not None else False) if repo.drifted is None else name in repo.drifted
        )
        commit = self._commit(repo, applied)
        desired = self._commit(repo, repo.desired_sha)
        # Another replica works on it: busy while a run of the stack is in flight.
        busy = self._ctx.locks.busy((repo.name, name)) if repo.local else found is not None and found.active
        return views.StackView(
            repository=repo.name,
            name=name,
            engine=declared.engine if declared else (record.engine if record else ""),
            sync_state=states.SyncState.parse(record.sync_state) if record else states.SyncState.UNKNOWN,
            health=states.Health.parse(record.health) if record else states.Health.UNKNOWN,
            drift=drift,
            auto_apply=declared.auto_apply if declared else False,
            self_heal=declared.self_heal if declared else False,
            depends_on=declared.depends_on if declared else (),
            applied_revision=applied,
            applied_commit=commit,
            desired_revision=repo.desired_sha,
            last_run=_brief(found.last_run) if found is not None and found.last_run is not None else None,
            pending_plan_run_id=_run_id(record.pending_plan_id) if record else None,
            error=self._stack_error(record),
            busy=busy,
            applied_at=record.applied_at if record else None,
            source_error=repo.source_error,
            desired_commit=desired,
        )

    def _commit(self, repo: _Known, sha: str | None) -> views.CommitView | None:
        """The details of commit ``sha``: as this replica remembers them, else as published."""
        if sha is None:
            return None
        details = self._ctx.commits.get(sha) or repo.commits.get(sha)
        return _commit(details) if details is not None else None

    def _scope(self, repos: Iterable[repository_states.RepositoryState]) -> list[_Known]:
        """``repos`` as this answer shows them: at most one store query, for those another
        replica owns (or this one took over and has not checked yet)."""
        chosen = list(repos)
        sharing = self._store.backend == "postgresql"
        local = {repo.name for repo in chosen if self._owns(repo.name) and (not sharing or repo.checked)}
        remote = [repo.key for repo in chosen if repo.name not in local]
        published: dict[str, records.PublicationRecord] = {}
        if remote:
            with self._specs_lock:
                parsed = list(self._specs)
            published = self._store.publications(repositories=remote, known_specs=parsed)
        return [
            _local(repo)
            if repo.name in local
            else _published(repo, found, self._spec_of(found))
            if (found := published.get(repo.key)) is not None
            else _local(repo, local=False)
            for repo in chosen
        ]

    def _spec_of(self, published: records.PublicationRecord) -> specs.RepoSpec | None:
        """The spec of the published valid revision: parsed once per SHA (pure, no checkout)."""
        sha = published.valid_revision
        if sha is None:
            return None
        with self._specs_lock:
            if sha in self._specs:
                self._specs.move_to_end(sha)
                return self._specs[sha]
        if published.spec_text is None:
            return None  # forgotten since the query was made (or never published): next answer
        try:
            spec: specs.RepoSpec | None = specs.parse_spec(published.spec_text)
        except specs.SpecError as exc:  # a newer replica's spec an older parser refuses
            log.warning(
                "repository %s: the spec of %s its owner published does not parse here: %s",
                self._name(published.repository), sha[:12], exc,
            )  # fmt: skip
            spec = None
        with self._specs_lock:
            self._specs[sha] = spec
            while len(self._specs) > _SPECS:
                self._specs.popitem(last=False)
        return spec

    def _stack_error(self, record: records.StackRecord | None) -> str | None:
        """The stack's recorded error; while the store refuses writes, that first (nothing is recorded)."""
        recorded = (record.error or None) if record else None
        health = self._ctx.store_health
        if not health.failing:
            return recorded
        failing = (
            f"the state database is failing ({health.error}): nothing is planned, applied or recorded "
            "until it works again; the state shown is the last one recorded"
        )
        return f"{failing}. Last recorded error: {recorded}" if recorded else failing


def run_view(record: records.RunRecord, *, repository: str) -> views.RunView:
    """The view of a recorded run, its repository named ``repository``."""
    return views.RunView(**_run_fields(record, repository=repository))


def run_detail(record: records.RunRecord, *, repository: str) -> views.RunDetail:
    """The view of a recorded run with its changes, hosts and output."""
    return views.RunDetail(
        **_run_fields(record, repository=repository),
        changes=tuple(record.changes),
        hosts=tuple(record.hosts),
        output=record.output,
    )


def _run_fields(record: records.RunRecord, *, repository: str) -> dict[str, Any]:
    return {
        "id": ids.RunId(record.id),
        "stack": record.stack,
        "repository": repository,
        "revision": record.revision,
        "kind": runs.RunKind(record.kind),
        "status": runs.RunStatus(record.status),
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "summary": dict(record.summary),
        "error": record.error,
        "actor": record.actor,
        "reason": record.reason,
        "plan_id": _run_id(record.plan_id),
    }


#: Repositories with the spec of their newest valid revision, read once per answer (the
#: loop may replace it meanwhile).
_Scope = Sequence[_Known]


def _local(repo: repository_states.RepositoryState, *, local: bool = True) -> _Known:
    """``repo`` as this replica's memory has it."""
    return _Known(
        state=repo,
        spec=repo.spec,
        desired_sha=repo.desired_sha,
        valid_sha=repo.revision.sha if repo.revision is not None else None,
        source_error=repo.source_error or repo.revision_error,
        last_fetch_at=repo.last_fetch_at,
        last_check_at=repo.last_check_at,
        drifted=None,
        commits={},
        local=local,
    )


def _published(
    repo: repository_states.RepositoryState, found: records.PublicationRecord, spec: specs.RepoSpec | None
) -> _Known:
    """``repo`` as its owner published it."""
    return _Known(
        state=repo,
        spec=spec,
        desired_sha=found.desired_revision,
        valid_sha=found.valid_revision,
        source_error=found.source_error or found.revision_error,
        last_fetch_at=found.last_fetch_at,
        last_check_at=found.last_check_at,
        drifted=frozenset(found.drifted),
        commits=found.commits,
        local=False,
    )


def _candidates(
    scope: _Scope, stored: Mapping[tuple[str, str], records.StackBrief], *, recorded_only: bool = False
) -> Iterable[_Candidate]:
    """Every stack of ``scope`` in order: as its newest valid revision declares them, else as recorded.

    ``stored`` must hold the records of every repository in scope without a valid revision.
    ``recorded_only``: only the declared stacks ``stored`` holds a record of.
    """
    by_repository: dict[str, list[records.StackBrief]] = {}
    for brief in stored.values():
        by_repository.setdefault(brief.repository, []).append(brief)
    for repo in scope:
        spec = repo.spec
        if spec is not None:
            if recorded_only and repo.key not in by_repository:
                continue
            for stack in spec.stacks:
                if not recorded_only or (repo.key, stack.name) in stored:
                    yield _Candidate(repo=repo, name=stack.name, engine=stack.engine, declared=stack)
        else:
            for brief in sorted(by_repository.get(repo.key, ()), key=lambda b: b.name):
                yield _Candidate(repo=repo, name=brief.name, engine=brief.engine)


def _matches(query: views.StackQuery, candidate: _Candidate, brief: records.StackBrief | None) -> bool:
    """True when the stack passes every filter of ``query`` (``brief``: its recorded states)."""
    if query.engine is not None and candidate.engine != query.engine:
        return False
    if query.name_contains is not None and query.name_contains.lower() not in candidate.name.lower():
        return False
    if query.sync_state is None and query.health is None:
        return True
    sync_state, health = _states(brief)
    if query.sync_state is not None and sync_state.value != query.sync_state:
        return False
    return query.health is None or health.value.lower() == query.health.lower()


def _wanted(query: views.StackQuery) -> tuple[states.SyncState | None, states.Health | None] | None:
    """The sync state and health ``query`` filters on (None: no filter on it); None when no
    stack can pass them (a word that is no state: :func:`_matches` compares with parsed states)."""
    sync_state = health = None
    if query.sync_state is not None:
        sync_state = next((s for s in states.SyncState if s.value == query.sync_state), None)
        if sync_state is None:
            return None
    if query.health is not None:
        health = next((h for h in states.Health if h.value.lower() == query.health.lower()), None)
        if health is None:
            return None
    return sync_state, health


#: Sync states by how soon someone should look (the overview's ``state`` order).
_URGENCY = {
    state: rank
    for rank, state in enumerate(
        (
            states.SyncState.FAILED,
            states.SyncState.PENDING_APPROVAL,
            states.SyncState.OUT_OF_SYNC,
            states.SyncState.APPLYING,
            states.SyncState.UNKNOWN,
            states.SyncState.SYNCED,
        )
    )
}


def _states(brief: records.StackBrief | None) -> tuple[states.SyncState, states.Health]:
    """A stack's recorded states (never recorded: unknown, Unknown)."""
    if brief is None:
        return states.SyncState.UNKNOWN, states.Health.UNKNOWN
    return _parsed(brief.sync_state, brief.health)


@functools.lru_cache(maxsize=256)
def _parsed(sync_state: str, health: str) -> tuple[states.SyncState, states.Health]:
    """The states stored as these words (a handful of pairs, parsed once for thousands of stacks)."""
    return states.SyncState.parse(sync_state), states.Health.parse(health)


def _declared(repo: _Known, name: str) -> specs.StackSpec | None:
    if repo.spec is None or name not in repo.spec.names:
        return None
    return repo.spec.stack(name)


def _dependents(repo: _Known, name: str) -> tuple[str, ...]:
    """The stacks of ``repo``'s spec whose ``depends_on`` names ``name`` (none while it has no spec)."""
    if repo.spec is None:
        return ()
    return tuple(stack.name for stack in repo.spec.stacks if name in stack.depends_on)


def _brief(run: records.RunBrief) -> views.RunBrief:
    return views.RunBrief(
        id=ids.RunId(run.id),
        kind=runs.RunKind(run.kind),
        status=runs.RunStatus(run.status),
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


def _commit(details: Mapping[str, Any]) -> views.CommitView:
    """A commit the loop remembered (``sha``, ``author``, ``date`` as ISO 8601, ``subject``)."""
    date = details.get("date")
    if isinstance(date, str):
        try:
            date = datetime.fromisoformat(date)
        except ValueError:
            date = None
    return views.CommitView(
        sha=str(details.get("sha", "")),
        author=_optional_text(details.get("author")),
        date=date if isinstance(date, datetime) else None,
        subject=_optional_text(details.get("subject")),
    )


def _input_view(item: Mapping[str, Any]) -> views.InputView:
    """An input as a plan run recorded it (never a sensitive value: it was masked when stored)."""
    known = bool(item.get("known", True))
    sensitive = bool(item.get("sensitive", False))
    source = str(item.get("source", ""))
    stack = str(item.get("stack") or source.partition(".")[0])
    value = None if not known else outputs.MASK if sensitive else item.get("value")
    shown = (
        outputs.known_after(stack)
        if not known
        else outputs.MASK
        if sensitive
        else outputs.canonical_json(value)
    )
    return views.InputView(
        name=str(item.get("name", "")),
        source=source,
        known=known,
        sensitive=sensitive,
        value=value,
        shown=shown,
    )


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)


def _run_id(value: int | None) -> ids.RunId | None:
    return None if value is None else ids.RunId(value)
