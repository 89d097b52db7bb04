"""The repository spec: ``truenorth.yaml`` parsed, checked and turned into frozen stacks.

A GitOps repository declares its stacks here. Parsing is pure (text in, stacks or a
list of issues out) and strict: unknown keys, wrong types, duplicate names, unknown
engines, escaping paths, bad durations and dependency cycles are all reported together,
each with the file and the field, and any one of them blocks the whole revision. The
same field tables produce the published JSON Schema (``truenorth schema``), so the
schema and the checks cannot drift apart. Checks that need the checkout on disk (does
the path exist, does a symlink escape) live in :mod:`truenorth.controller.runs.validating`.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from truenorth.core import durations, ordering, specfields, yamls

__all__ = [
    "SPEC_FILENAME",
    "AnsibleOptions",
    "IgnoreDifference",
    "KubernetesOptions",
    "RepoSpec",
    "SpecError",
    "SpecIssue",
    "StackSpec",
    "TerraformOptions",
    "check_relative_path",
    "load_yaml_bounded",
    "parse_spec",
]

SPEC_FILENAME = "truenorth.yaml"
DEFAULT_DRIFT_INTERVAL = 600.0

#: Bounds for the spec file itself (case 3): size, YAML nodes and alias expansions.
MAX_SPEC_BYTES = 1024 * 1024
MAX_YAML_NODES = 200_000
MAX_YAML_DOCUMENTS = 1

_RESERVED_ENV = frozenset({"PATH", "HOME", "CHECKPOINT_DISABLE"})
_NAME = re.compile(specfields.NAME_PATTERN)
_ENCODED_TRAVERSAL = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


@dataclass(frozen=True)
class SpecIssue:
    """One problem in a spec: where (file and field path) and what."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


class SpecError(ValueError):
    """A spec with at least one issue; ``issues`` lists all of them."""

    def __init__(self, issues: Sequence[SpecIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


@dataclass(frozen=True)
class TerraformOptions:
    """Terraform/OpenTofu stack options."""

    vars: Mapping[str, Any] = field(default_factory=dict)
    var_files: tuple[str, ...] = ()
    workspace: str = "default"
    binary: str = "terraform"
    #: Environment variables for Terraform whose values are secret *references*
    #: (``TF_VAR_db_password: prod-db``, ``AWS_SECRET_ACCESS_KEY: aws``), resolved by
    #: the controller: how sensitive inputs and provider credentials reach Terraform
    #: without ever being in Git.
    secret_env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AnsibleOptions:
    """Ansible stack options. ``vault_password`` names a secret reference, never a value."""

    playbook: str = "site.yml"
    inventory: str | None = None
    limit: str | None = None
    extra_vars: Mapping[str, Any] = field(default_factory=dict)
    vault_password: str | None = None


@dataclass(frozen=True)
class IgnoreDifference:
    """Differences to ignore for matching Kubernetes objects (Argo CD's ``ignoreDifferences``)."""

    kind: str
    json_pointers: tuple[str, ...]
    group: str | None = None
    name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class KubernetesOptions:
    """Kubernetes stack options."""

    target: str | None = None
    namespace: str | None = None
    prune: bool = True
    allow_empty: bool = False
    wait: bool = True
    timeout: float = 300.0
    ignore_differences: tuple[IgnoreDifference, ...] = ()


EngineOptions = TerraformOptions | AnsibleOptions | KubernetesOptions


@dataclass(frozen=True)
class StackSpec:
    """One stack as declared in ``truenorth.yaml``, validated."""

    name: str
    engine: str
    path: str
    depends_on: tuple[str, ...] = ()
    auto_apply: bool = False
    self_heal: bool = False
    drift_interval: float = DEFAULT_DRIFT_INTERVAL
    options: EngineOptions = field(default_factory=TerraformOptions)
    #: The raw mapping this stack was parsed from, for change detection ("did the spec
    #: entry change?"). Never contains secret values: secrets are references.
    source: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def terraform(self) -> TerraformOptions:
        """The options, for a Terraform stack."""
        assert isinstance(self.options, TerraformOptions), self.engine
        return self.options

    @property
    def ansible(self) -> AnsibleOptions:
        """The options, for an Ansible stack."""
        assert isinstance(self.options, AnsibleOptions), self.engine
        return self.options

    @property
    def kubernetes(self) -> KubernetesOptions:
        """The options, for a Kubernetes stack."""
        assert isinstance(self.options, KubernetesOptions), self.engine
        return self.options

    def input_paths(self) -> tuple[str, ...]:
        """Repository paths whose change means this stack must be planned again."""
        paths = [self.path]
        if isinstance(self.options, TerraformOptions):
            paths.extend(self.options.var_files)
        return tuple(paths)


@dataclass(frozen=True)
class RepoSpec:
    """All stacks of one repository revision, in declaration order."""

    stacks: tuple[StackSpec, ...]
    file: str = SPEC_FILENAME

    def stack(self, name: str) -> StackSpec:
        """The stack called ``name``; KeyError if there is none."""
        for item in self.stacks:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        """Stack names in declaration order."""
        return tuple(item.name for item in self.stacks)

    def order(self, selected: Sequence[str] | None = None) -> tuple[StackSpec, ...]:
        """Stacks in dependency order (dependencies first), optionally only ``selected``."""
        graph = {item.name: item.depends_on for item in self.stacks}
        names = ordering.topological_order(graph)
        if selected is not None:
            wanted = set(selected)
            names = tuple(name for name in names if name in wanted)
        by_name = {item.name: item for item in self.stacks}
        return tuple(by_name[name] for name in names)


# --------------------------------------------------------------------------- parsing


def load_yaml_bounded(text: str, *, max_bytes: int = MAX_SPEC_BYTES) -> Any:
    """Parse one YAML document within the spec's size and node limits; ``ValueError`` beyond them."""
    try:
        return yamls.load_bounded(text, max_bytes=max_bytes, max_nodes=MAX_YAML_NODES)
    except yaml.YAMLError as exc:
        raise ValueError(yamls.yaml_problem(exc)) from None


def parse_spec(text: str, *, filename: str = SPEC_FILENAME) -> RepoSpec:
    """Parse and check the text of ``truenorth.yaml``; raise :class:`SpecError` listing every issue."""
    try:
        data = load_yaml_bounded(text)
    except ValueError as exc:
        raise SpecError([SpecIssue(filename, "", f"not valid YAML: {exc}")]) from None
    report = _Reporter(filename)
    issues = report.issues

    if not isinstance(data, dict):
        report("", f"must be a mapping with a 'stacks' list, not {_type_name(data)}")
        raise SpecError(issues)
    for key in data:
        if key not in ("version", "stacks"):
            report(str(key), "unknown key (allowed: version, stacks)")
    if "version" in data and (data["version"] != 1 or isinstance(data["version"], bool)):
        report("version", f"unsupported version {data['version']!r} (supported: 1)")
    raw_stacks = data.get("stacks")
    if raw_stacks is None:
        report("stacks", "missing: list the repository's stacks")
        raise SpecError(issues)
    if not isinstance(raw_stacks, list):
        report("stacks", f"must be a list, not {_type_name(raw_stacks)}")
        raise SpecError(issues)

    stacks: list[StackSpec] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_stacks):
        where = f"stacks[{index}]"
        stack = _parse_stack(raw, where=where, report=report)
        if stack is None:
            continue
        if stack.name in seen:
            report(f"{where}.name", f"duplicate stack name {stack.name!r} (also stacks[{seen[stack.name]}])")
            continue
        seen[stack.name] = index
        stacks.append(stack)

    for stack in stacks:
        for dep in stack.depends_on:
            if dep == stack.name:
                report(
                    f"stacks[{seen[stack.name]}].depends_on",
                    f"stack {stack.name!r} depends on itself (cycle)",
                )
            elif dep not in seen:
                report(f"stacks[{seen[stack.name]}].depends_on", f"unknown stack {dep!r}")
    graph = {stack.name: stack.depends_on for stack in stacks}
    cycle = ordering.find_cycle(graph)
    if cycle:
        report(f"stacks[{seen[cycle[0]]}].depends_on", "dependency cycle: " + " -> ".join(cycle))
    if issues:
        raise SpecError(issues)
    return RepoSpec(stacks=tuple(stacks), file=filename)


def _parse_stack(raw: Any, *, where: str, report: _Reporter) -> StackSpec | None:
    if not isinstance(raw, dict):
        report(where, f"must be a mapping, not {_type_name(raw)}")
        return None
    engine = raw.get("engine")
    engine_fields = specfields.ENGINE_FIELDS.get(engine, ()) if isinstance(engine, str) else ()
    allowed = {f.key: f for f in specfields.COMMON_FIELDS + engine_fields}
    before = len(report.issues)
    for key in raw:
        if key not in allowed:
            if (
                isinstance(engine, str)
                and engine in specfields.ENGINES
                and any(key in {f.key for f in fields} for fields in specfields.ENGINE_FIELDS.values())
            ):
                report(f"{where}.{key}", f"unknown key for engine {engine!r}")
            else:
                report(f"{where}.{key}", "unknown key")
    values: dict[str, Any] = {}
    for spec in allowed.values():
        if spec.key not in raw:
            if spec.required:
                report(f"{where}.{spec.key}", "missing (required)")
            values[spec.key] = _default(spec)
            continue
        values[spec.key] = _check_field(spec, raw[spec.key], where=f"{where}.{spec.key}", report=report)
    if len(report.issues) != before or not isinstance(engine, str) or engine not in specfields.ENGINES:
        return None
    options: EngineOptions
    if engine == "terraform":
        options = TerraformOptions(
            vars=values["vars"],
            var_files=tuple(values["var_files"]),
            workspace=values["workspace"],
            binary=values["binary"],
            secret_env=values["secret_env"],
        )
    elif engine == "ansible":
        options = AnsibleOptions(
            playbook=values["playbook"],
            inventory=values["inventory"],
            limit=values["limit"],
            extra_vars=values["extra_vars"],
            vault_password=values["vault_password"],
        )
    else:
        options = KubernetesOptions(
            target=values["target"],
            namespace=values["namespace"],
            prune=values["prune"],
            allow_empty=values["allow_empty"],
            wait=values["wait"],
            timeout=values["timeout"],
            ignore_differences=tuple(values["ignore_differences"]),
        )
    return StackSpec(
        name=values["name"],
        engine=engine,
        path=values["path"],
        depends_on=tuple(values["depends_on"]),
        auto_apply=values["auto_apply"],
        self_heal=values["self_heal"],
        drift_interval=values["drift_interval"],
        options=options,
        source=dict(raw),
    )


class _Reporter:
    """Collects issues for one file; callable as ``report(field, message)``."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.issues: list[SpecIssue] = []

    def __call__(self, where: str, message: str) -> None:
        self.issues.append(SpecIssue(self.filename, where, message))


def _default(spec: specfields.Field) -> Any:
    if spec.kind == "duration" and isinstance(spec.default, str):
        return durations.parse_duration(spec.default)
    if isinstance(spec.default, list):
        return []
    if isinstance(spec.default, dict):
        return {}
    return spec.default


def _check_field(
    spec: specfields.Field, value: Any, *, where: str, report: Callable[[str, str], None]
) -> Any:
    kind = spec.kind
    if kind == "bool":
        if not isinstance(value, bool):
            report(where, f"must be true or false, not {_type_name(value)}")
        return value
    if kind == "duration":
        try:
            return durations.parse_duration(value)
        except durations.DurationError as exc:
            report(where, f"bad duration: {exc}")
            return None
    if kind == "mapping":
        if not isinstance(value, dict):
            report(where, f"must be a mapping, not {_type_name(value)}")
            return {}
        for key in value:
            if not isinstance(key, str) or not re.fullmatch(specfields.VAR_NAME_PATTERN, key):
                report(where, f"bad variable name {str(key)!r}")
        return dict(value)
    if kind in ("names", "paths"):
        if not isinstance(value, list):
            report(where, f"must be a list, not {_type_name(value)}")
            return []
        for index, item in enumerate(value):
            _check_scalar(kind[:-1], item, where=f"{where}[{index}]", report=report, spec=spec)
        if len(set(map(str, value))) != len(value):
            report(where, "lists an entry twice")
        return [posixpath.normpath(v) if kind == "paths" and isinstance(v, str) else v for v in value]
    if kind == "ignore_differences":
        return _check_ignore_differences(value, where=where, report=report)
    if kind == "secret_env":
        return _check_secret_env(value, where=where, report=report)
    return _check_scalar(kind, value, where=where, report=report, spec=spec)


def _check_scalar(
    kind: str, value: Any, *, where: str, report: Callable[[str, str], None], spec: specfields.Field
) -> Any:
    if not isinstance(value, str):
        report(where, f"must be a string, not {_type_name(value)}")
        return value
    if kind == "name":
        if not _NAME.fullmatch(value):
            report(where, f"bad name {value!r}: use letters, digits, '-', '_' and '.', at most 63")
        return value
    if kind == "path":
        problem = check_relative_path(value)
        if problem:
            report(where, problem)
            return value
        return posixpath.normpath(value)
    if kind == "enum":
        if value not in spec.choices:
            report(where, f"unknown value {value!r} (allowed: {', '.join(spec.choices)})")
        return value
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        report(where, f"bad value {value!r}")
    return value


def _check_ignore_differences(
    value: Any, *, where: str, report: Callable[[str, str], None]
) -> list[IgnoreDifference]:
    if not isinstance(value, list):
        report(where, f"must be a list, not {_type_name(value)}")
        return []
    out: list[IgnoreDifference] = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, dict):
            report(here, f"must be a mapping, not {_type_name(item)}")
            continue
        unknown = set(item) - {"group", "kind", "name", "namespace", "json_pointers"}
        for key in sorted(map(str, unknown)):
            report(f"{here}.{key}", "unknown key")
        kind = item.get("kind")
        pointers = item.get("json_pointers")
        if not isinstance(kind, str) or not kind:
            report(f"{here}.kind", "missing or not a string")
            continue
        if not isinstance(pointers, list) or not all(
            isinstance(p, str) and p.startswith("/") for p in pointers
        ):
            report(f"{here}.json_pointers", "must be a list of JSON pointers starting with '/'")
            continue
        extras = {k: item.get(k) for k in ("group", "name", "namespace")}
        if any(v is not None and not isinstance(v, str) for v in extras.values()):
            report(here, "group, name and namespace must be strings")
            continue
        out.append(IgnoreDifference(kind=kind, json_pointers=tuple(pointers), **extras))
    return out


def _check_secret_env(value: Any, *, where: str, report: Callable[[str, str], None]) -> dict[str, str]:
    if not isinstance(value, dict):
        report(where, f"must be a mapping of ENV_NAME: secret-reference, not {_type_name(value)}")
        return {}
    out: dict[str, str] = {}
    for name, reference in value.items():
        if not isinstance(name, str) or not re.fullmatch(specfields.ENV_NAME_PATTERN, name):
            report(where, f"bad environment variable name {str(name)!r}")
        elif (name.startswith("TF_") and not name.startswith("TF_VAR_")) or name in _RESERVED_ENV:
            report(f"{where}.{name}", "is set by truenorth and cannot be overridden")
        elif not isinstance(reference, str) or not re.fullmatch(specfields.REFERENCE_PATTERN, reference):
            report(
                f"{where}.{name}",
                "must name a secret reference (letters, digits, '-', '_', '.'), not a value",
            )
        else:
            out[name] = reference
    return out


def check_relative_path(value: str) -> str | None:
    """Why ``value`` is not a safe path relative to the repository, or None if it is.

    Lexical checks only (absolute paths, ``..``, encoded traversal, control characters,
    a leading ``-``); the checkout on disk is checked again after resolving symlinks.
    """
    if not value or not value.strip():
        return "must not be empty"
    if any(ord(ch) < 32 for ch in value) or "\\" in value:
        return f"{value!r} holds control characters or backslashes"
    if _ENCODED_TRAVERSAL.search(value):
        return f"{value!r} holds an encoded path character (escapes the repository)"
    if value.startswith(("/", "~")):
        return f"{value!r} is absolute; paths are relative to the repository (escapes the repository)"
    if value.startswith("-"):
        return f"{value!r} starts with '-'"
    parts = value.split("/")
    if ".." in parts:
        return f"{value!r} leaves its folder with '..' (escapes the repository)"
    return None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)
