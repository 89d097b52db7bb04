"""The test API server's state: objects, their field managers, and every write verb.

Implements the semantics kmock does not: server-side apply that creates missing
objects and removes fields the same manager stopped applying, ``managedFields`` in
the FieldsV1 shape, ``uid``/``resourceVersion``/``creationTimestamp``/``generation``,
``dryRun=All`` that saves nothing, namespaces that must exist, CRDs that become
Established (optionally after a few reads) and only then serve their kind,
``resourceVersion`` conflicts on update, and SSA conflicts without ``force``.
"""

from __future__ import annotations

import copy
import datetime
import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.kubeapi import behaviours, managed, resources
from tests.support.kubeapi.behaviours import ApiFailure

__all__ = ["Store"]

Key = tuple[str, str, str, str]  # group, plural, namespace, name
ManagerKey = tuple[str, str, str]  # manager, operation, subresource


@dataclass
class _Record:
    obj: dict[str, Any]
    managers: dict[ManagerKey, set[managed.Path]] = field(default_factory=dict)
    times: dict[ManagerKey, str] = field(default_factory=dict)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _not_found(kind: resources.Kind, name: str) -> ApiFailure:
    qualified = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
    return ApiFailure(
        404,
        "NotFound",
        f'{qualified} "{name}" not found',
        {"name": name, "group": kind.group, "kind": kind.plural},
    )


class Store:
    def __init__(self, *, controllers: bool = True, crd_established_after_reads: int = 0) -> None:
        self.lock = threading.RLock()
        self.controllers = controllers
        self.paused: set[str] = set()
        #: ``(kind, name)`` of Jobs and Pods whose simulated run fails.
        self.failing: set[tuple[str, str]] = set()
        self.crd_established_after_reads = crd_established_after_reads
        self._records: dict[Key, _Record] = {}
        self._custom: dict[str, list[resources.Kind]] = {}  # CRD name -> kinds it serves
        self._crd_reads: dict[str, int] = {}
        self._rv = itertools.count(1000)
        self._ips = itertools.count(10)
        for namespace in ("default", "kube-system", "kube-public"):
            self._seed_namespace(namespace)

    # ------------------------------------------------------------------ kinds

    def served(self) -> list[resources.Kind]:
        kinds = list(resources.BUILTIN)
        for custom in self._custom.values():
            kinds.extend(custom)
        return kinds

    def find(self, group: str, version: str, plural: str) -> resources.Kind | None:
        for kind in self.served():
            if (kind.group, kind.version, kind.plural) == (group, version, plural):
                return kind
        return None

    # ------------------------------------------------------------------ reads

    def get(self, kind: resources.Kind, namespace: str, name: str) -> dict[str, Any]:
        record = self._records.get(self._key(kind, namespace, name))
        if record is None:
            raise _not_found(kind, name)
        if kind.kind == "CustomResourceDefinition":
            self._count_crd_read(name, record)
        return self._render(kind, record)

    def list(
        self, kind: resources.Kind, namespace: str | None, *, matches: Callable[[dict[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        found = []
        for (group, plural, ns, _), record in sorted(self._records.items()):
            if (group, plural) != (kind.group, kind.plural) or (namespace is not None and ns != namespace):
                continue
            if matches(record.obj):
                rendered = self._render(kind, record)
                rendered.pop("apiVersion", None)  # list items come without them, as on a real server
                rendered.pop("kind", None)
                found.append(rendered)
        return found

    def resource_version(self) -> str:
        return str(next(self._rv))

    # ------------------------------------------------------------------ writes

    def create(
        self, kind: resources.Kind, namespace: str, body: dict[str, Any], *, manager: str, dry_run: bool
    ) -> dict[str, Any]:
        self._check_identity(kind, namespace, body, name=None)
        name = body["metadata"]["name"]
        key = self._key(kind, namespace, name)
        if key in self._records:
            qualified = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
            raise ApiFailure(
                409,
                "AlreadyExists",
                f'{qualified} "{name}" already exists',
                {"name": name, "kind": kind.plural},
            )
        paths = managed.leaf_paths(self._without_status(kind, body))
        record = self._new_record(kind, namespace, body, manager_key=(manager, "Update", ""), paths=paths)
        return self._commit(kind, key, record, previous=None, dry_run=dry_run)

    def apply(
        self,
        kind: resources.Kind,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        manager: str,
        force: bool,
        dry_run: bool,
    ) -> tuple[int, dict[str, Any]]:
        if not manager:
            raise ApiFailure(400, "BadRequest", "PATCH /apply requests require a fieldManager")
        self._check_identity(kind, namespace, body, name=name)
        applied = self._without_status(kind, body)
        paths = managed.leaf_paths(applied)
        key = self._key(kind, namespace, name)
        me: ManagerKey = (manager, "Apply", "")
        previous = self._records.get(key)
        if previous is None:
            record = self._new_record(kind, namespace, applied, manager_key=me, paths=paths)
            return 201, self._commit(kind, key, record, previous=None, dry_run=dry_run)
        live = copy.deepcopy(previous.obj)
        managers = {k: set(v) for k, v in previous.managers.items()}
        conflicts = []
        for other, owned in managers.items():
            if other == me:
                continue
            clash = {p for p in owned & paths if managed.value_at(live, p) != managed.value_at(applied, p)}
            if clash and not force:
                conflicts.extend(
                    f'conflict with "{other[0]}": .{".".join(s[2:] for s in p)}' for p in sorted(clash)
                )
            owned -= clash
        if conflicts:
            raise ApiFailure(
                409, "Conflict", f"Apply failed with {len(conflicts)} conflict(s): " + "; ".join(conflicts)
            )
        others = (
            set().union(*(owned for other, owned in managers.items() if other != me)) if managers else set()
        )
        for path in sorted(managers.get(me, set()) - paths - others, key=len, reverse=True):
            managed.remove_path(live, path)
        merged = managed.merge(live, applied)
        managers[me] = paths
        record = _Record(
            obj=merged, managers={k: v for k, v in managers.items() if v}, times=dict(previous.times)
        )
        record.times[me] = _now()
        return 200, self._commit(kind, key, record, previous=previous, dry_run=dry_run)

    def replace(
        self,
        kind: resources.Kind,
        namespace: str,
        name: str,
        body: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        self._check_identity(kind, namespace, body, name=name)
        key = self._key(kind, namespace, name)
        previous = self._records.get(key)
        if previous is None:
            raise _not_found(kind, name)
        self._check_version(kind, name, body, previous)
        obj = self._without_status(kind, body)
        if kind.status and "status" in previous.obj:
            obj["status"] = copy.deepcopy(previous.obj["status"])
        me = (manager, "Update", "")
        record = _Record(
            obj=obj, managers={k: set(v) for k, v in previous.managers.items()}, times=dict(previous.times)
        )
        record.managers[me] = managed.leaf_paths(self._without_status(kind, body))
        record.times[me] = _now()
        return self._commit(kind, key, record, previous=previous, dry_run=dry_run)

    def merge_patch(
        self,
        kind: resources.Kind,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        manager: str,
        dry_run: bool,
        subresource: str = "",
    ) -> dict[str, Any]:
        key = self._key(kind, namespace, name)
        previous = self._records.get(key)
        if previous is None:
            raise _not_found(kind, name)
        if subresource == "status":
            patch = {"status": patch.get("status", {})}
        elif kind.status:
            patch = {k: v for k, v in patch.items() if k != "status"}
        obj = _merge_patch(copy.deepcopy(previous.obj), patch)
        me = (manager, "Update", subresource)
        record = _Record(
            obj=obj, managers={k: set(v) for k, v in previous.managers.items()}, times=dict(previous.times)
        )
        record.managers[me] = record.managers.get(me, set()) | managed.leaf_paths(_drop_nulls(patch))
        record.times[me] = _now()
        return self._commit(
            kind, key, record, previous=previous, dry_run=dry_run, status_write=subresource == "status"
        )

    def replace_status(
        self, kind: resources.Kind, namespace: str, name: str, body: dict[str, Any], *, manager: str
    ) -> dict[str, Any]:
        key = self._key(kind, namespace, name)
        previous = self._records.get(key)
        if previous is None:
            raise _not_found(kind, name)
        obj = copy.deepcopy(previous.obj)
        obj["status"] = copy.deepcopy(body.get("status", {}))
        record = _Record(
            obj=obj, managers={k: set(v) for k, v in previous.managers.items()}, times=dict(previous.times)
        )
        return self._commit(kind, key, record, previous=previous, dry_run=False, status_write=True)

    def delete(self, kind: resources.Kind, namespace: str, name: str, *, dry_run: bool) -> dict[str, Any]:
        key = self._key(kind, namespace, name)
        record = self._records.get(key)
        if record is None:
            raise _not_found(kind, name)
        if not dry_run:
            del self._records[key]
            if kind.kind == "Namespace":
                for other in [k for k in self._records if k[2] == name]:
                    del self._records[other]
            if kind.kind == "CustomResourceDefinition":
                for served in self._custom.pop(name, []):
                    for other in [k for k in self._records if k[:2] == (served.group, served.plural)]:
                        del self._records[other]
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": kind.group,
                "kind": kind.plural,
                "uid": record.obj["metadata"].get("uid"),
            },
        }

    # ------------------------------------------------------------------ internals

    def _key(self, kind: resources.Kind, namespace: str, name: str) -> Key:
        return (kind.group, kind.plural, namespace if kind.namespaced else "", name)

    @staticmethod
    def _without_status(kind: resources.Kind, body: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(body)
        if kind.status:
            out.pop("status", None)
        metadata = out.setdefault("metadata", {})
        for noise in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
            metadata.pop(noise, None)
        return out

    def _check_identity(self, kind: resources.Kind, namespace: str, body: Any, *, name: str | None) -> None:
        if not isinstance(body, dict):
            raise ApiFailure(400, "BadRequest", "the body of the request was in an unknown format")
        if body.get("apiVersion") != kind.api_version or body.get("kind") != kind.kind:
            raise ApiFailure(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected API version ({kind.api_version})"
                if body.get("apiVersion") != kind.api_version
                else f"the kind in the data ({body.get('kind')}) does not match the expected kind ({kind.kind})",
            )
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise ApiFailure(400, "BadRequest", "metadata must be an object")
        if name is not None:
            body_name = metadata.get("name")
            if body_name is None:
                metadata["name"] = name
            elif body_name != name:
                raise ApiFailure(
                    400, "BadRequest", "the name of the object does not match the name on the URL"
                )
        if kind.namespaced:
            body_ns = metadata.get("namespace")
            if body_ns is not None and body_ns != namespace:
                raise ApiFailure(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)

    def _check_version(
        self, kind: resources.Kind, name: str, body: dict[str, Any], previous: _Record
    ) -> None:
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != previous.obj["metadata"]["resourceVersion"]:
            qualified = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
            raise ApiFailure(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
                "please apply your changes to the latest version and try again",
            )

    def _new_record(
        self,
        kind: resources.Kind,
        namespace: str,
        body: dict[str, Any],
        *,
        manager_key: ManagerKey,
        paths: set[managed.Path],
    ) -> _Record:
        if kind.namespaced and self._key(resources.BUILTIN[0], "", namespace) not in self._records:
            raise ApiFailure(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                {"name": namespace, "kind": "namespaces"},
            )
        obj = self._without_status(kind, body)
        obj["metadata"]["uid"] = str(uuid.uuid4())
        obj["metadata"]["creationTimestamp"] = _now()
        return _Record(obj=obj, managers={manager_key: paths}, times={manager_key: _now()})

    def _commit(
        self,
        kind: resources.Kind,
        key: Key,
        record: _Record,
        *,
        previous: _Record | None,
        dry_run: bool,
        status_write: bool = False,
    ) -> dict[str, Any]:
        obj = record.obj
        behaviours.validate(kind, obj)
        if not status_write:
            behaviours.apply_defaults(kind, obj, next_ip=f"10.96.0.{next(self._ips)}")
            if previous is not None:
                behaviours.check_immutable(kind, previous.obj, obj)
        if kind.generation or kind.group not in {k.group for k in resources.BUILTIN}:
            old_generation = previous.obj["metadata"].get("generation", 1) if previous else 0
            changed = previous is None or _spec_of(previous.obj) != _spec_of(obj)
            obj["metadata"]["generation"] = old_generation + 1 if changed else old_generation
        if kind.kind == "CustomResourceDefinition" and not status_write:
            self._crd_status(obj, reads=self._crd_reads.get(obj["metadata"]["name"], 0))
        if self.controllers and kind.kind not in self.paused and not status_write:
            failing = (kind.kind, obj["metadata"]["name"]) in self.failing
            behaviours.simulate_controller(kind, obj, failing=failing)
        if previous is not None and _comparable(previous) == _comparable(record):
            obj["metadata"]["resourceVersion"] = previous.obj["metadata"]["resourceVersion"]
        else:
            obj["metadata"]["resourceVersion"] = self.resource_version()
        if dry_run:
            return self._render(kind, record)
        self._records[key] = record
        if kind.kind == "CustomResourceDefinition":
            self._register_crd(obj)
        return self._render(kind, record)

    def _render(self, kind: resources.Kind, record: _Record) -> dict[str, Any]:
        obj = copy.deepcopy(record.obj)
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        entries = []
        for (manager, operation, subresource), paths in sorted(record.managers.items()):
            entry: dict[str, Any] = {
                "manager": manager,
                "operation": operation,
                "apiVersion": kind.api_version,
                "time": record.times.get((manager, operation, subresource), _now()),
                "fieldsType": "FieldsV1",
                "fieldsV1": managed.fields_v1(paths),
            }
            if subresource:
                entry["subresource"] = subresource
            entries.append(entry)
        obj["metadata"]["managedFields"] = entries
        return obj

    # ------------------------------------------------------------------ CRDs

    def _count_crd_read(self, name: str, record: _Record) -> None:
        self._crd_reads[name] = self._crd_reads.get(name, 0) + 1
        was = self._established(record.obj)
        self._crd_status(record.obj, reads=self._crd_reads[name])
        if not was and self._established(record.obj):
            record.obj["metadata"]["resourceVersion"] = self.resource_version()
            self._register_crd(record.obj)

    def _crd_status(self, obj: dict[str, Any], *, reads: int) -> None:
        established = reads >= self.crd_established_after_reads
        names = (obj.get("spec") or {}).get("names") or {}
        obj["status"] = {
            "acceptedNames": {"kind": names.get("kind", ""), "plural": names.get("plural", "")},
            "storedVersions": [
                v["name"] for v in (obj.get("spec") or {}).get("versions") or [] if v.get("storage")
            ],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                {
                    "type": "Established",
                    "status": "True" if established else "False",
                    "reason": "InitialNamesAccepted" if established else "Installing",
                },
            ],
        }

    @staticmethod
    def _established(obj: dict[str, Any]) -> bool:
        return any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (obj.get("status") or {}).get("conditions", [])
        )

    def _register_crd(self, obj: dict[str, Any]) -> None:
        if not self._established(obj):
            return
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        self._custom[obj["metadata"]["name"]] = [
            resources.Kind(
                group=spec.get("group", ""),
                version=version["name"],
                kind=names.get("kind", ""),
                plural=names.get("plural", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                status="status" in (version.get("subresources") or {}),
                generation=True,
            )
            for version in spec.get("versions") or []
            if version.get("served", True)
        ]

    def _seed_namespace(self, name: str) -> None:
        kind = resources.BUILTIN[0]
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        record = _Record(obj=self._without_status(kind, body))
        record.obj["metadata"]["uid"] = str(uuid.uuid4())
        record.obj["metadata"]["creationTimestamp"] = _now()
        self._commit(kind, self._key(kind, "", name), record, previous=None, dry_run=False)


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def _comparable(record: _Record) -> Any:
    obj = copy.deepcopy(record.obj)
    obj["metadata"].pop("resourceVersion", None)
    return obj, {k: sorted(v) for k, v in record.managers.items()}


def _merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    return value
