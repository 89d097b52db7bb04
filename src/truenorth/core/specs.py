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

import itertools
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from truenorth.core import durations, fieldpaths, ordering, outputs, specfields, yamls

__all__ = [
    "SPEC_FILENAME",
    "AnsibleOptions",
    "IgnoreDifference",
    "KubernetesOptions",
    "OutputSpec",
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
_INPUT_NAME = re.compile(specfields.INPUT_NAME_PATTERN)
_OUTPUT_NAME = re.compile(specfields.OUTPUT_NAME_PATTERN)
_NAMESPACE = re.compile(specfields.NAMESPACE_PATTERN)
_KUBERNETES_VERSION = re.compile(specfields.KUBERNETES_VERSION_PATTERN)
_KUBERNETES_KIND = re.compile(specfields.KUBERNETES_KIND_PATTERN)
#: One label of a DNS-1123 subdomain (the whole name is checked label by label, bounded).
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_MAX_DNS_SUBDOMAIN = 253
#: How much of an offending key an error message shows.
_SHOWN = 80


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
    #: Create ``namespace`` (server-side applied, owner-labelled, never pruned) before applying.
    create_namespace: bool = False


EngineOptions = TerraformOptions | AnsibleOptions | KubernetesOptions


@dataclass(frozen=True)
class OutputSpec:
    """One ``outputs:`` entry of a stack: an output it declares (Ansible, Kubernetes).

    Terraform declares its outputs (and their sensitivity) in its own code. An Ansible
    stack's outputs are its playbook's ``set_stats`` data; an entry here only marks one
    ``sensitive``. A Kubernetes stack reads each output from an applied object after
    health is reached: ``object`` is ``[GROUP/]VERSION/KIND/NAME`` (``v1/Service/web``,
    ``apps/v1/Deployment/api``), ``namespace`` defaults to the stack's, ``path`` is a
    field path such as ``.status.loadBalancer.ingress[0].ip``. A value read from a
    Secret is always sensitive.
    """

    name: str
    sensitive: bool = False
    object: str | None = None
    namespace: str | None = None
    path: str | None = None

    @property
    def object_parts(self) -> tuple[str, str, str]:
        """``(apiVersion, kind, name)`` of ``object``: ``("apps/v1", "Deployment", "api")``.

        Only for a Kubernetes output (``object`` set; the parser checked its syntax).
        """
        assert self.object is not None, self.name
        *version, kind, name = self.object.split("/")
        return "/".join(version), kind, name

    @property
    def steps(self) -> tuple[fieldpaths.Step, ...]:
        """``path`` as :func:`truenorth.core.fieldpaths.parse` reads it (Kubernetes outputs)."""
        assert self.path is not None, self.name
        return fieldpaths.parse(self.path)


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
    #: What this stack reads from other stacks' outputs (``inputs:``), in name order.
    #: Every input's stack is also in ``depends_on``.
    inputs: tuple[outputs.InputRef, ...] = ()
    #: The outputs this stack declares (``outputs:``; Ansible and Kubernetes).
    outputs: tuple[OutputSpec, ...] = ()
    #: Only what ``depends_on:`` said, without the stacks ``inputs:`` added. A stack
    #: listed here is planned again after any apply of that dependency; a stack it only
    #: reads inputs from, only when an output it reads changes. Left empty, it is
    #: ``depends_on`` without the input-only stacks.
    explicit_depends_on: tuple[str, ...] = ()
    #: The raw mapping this stack was parsed from, for change detection ("did the spec
    #: entry change?"). Never contains secret values: secrets are references.
    source: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # One rule, here: an input implies depends_on. ``depends_on`` is the explicit
        # list followed by the inputs' stacks not already in it (sorted).
        from_inputs = sorted({ref.stack for ref in self.inputs} - set(self.depends_on))
        if not self.explicit_depends_on:
            input_stacks = {ref.stack for ref in self.inputs}
            explicit = tuple(dep for dep in self.depends_on if dep not in input_stacks)
            object.__setattr__(self, "explicit_depends_on", explicit)
        if from_inputs:
            object.__setattr__(self, "depends_on", (*self.depends_on, *from_inputs))

    def input_stacks(self) -> tuple[str, ...]:
        """The stacks this stack reads outputs from, sorted."""
        return tuple(sorted({ref.stack for ref in self.inputs}))

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
        for dep in stack.explicit_depends_on:
            if dep == stack.name:
                report(
                    f"stacks[{seen[stack.name]}].depends_on",
                    f"stack {stack.name!r} depends on itself (cycle)",
                )
            elif dep not in seen:
                report(f"stacks[{seen[stack.name]}].depends_on", f"unknown stack {dep!r}")
        for ref in stack.inputs:
            if ref.stack == stack.name:
                report(
                    f"stacks[{seen[stack.name]}].inputs.{ref.name}",
                    f"stack {stack.name!r} reads its own output {ref.output!r} (cycle)",
                )
            elif ref.stack not in seen:
                report(f"stacks[{seen[stack.name]}].inputs.{ref.name}", f"unknown stack {ref.stack!r}")
    _check_cycle(stacks, seen=seen, report=report)
    if issues:
        raise SpecError(issues)
    return RepoSpec(stacks=tuple(stacks), file=filename)


def _check_cycle(stacks: Sequence[StackSpec], *, seen: Mapping[str, int], report: _Reporter) -> None:
    """Report one dependency cycle of the graph ``depends_on`` and ``inputs`` make together.

    When an edge of the cycle comes only from an input, the issue names that input's
    field (``stacks[i].inputs.NAME``): that is the line to change.
    """
    by_name = {stack.name: stack for stack in stacks}
    cycle = ordering.find_cycle({stack.name: stack.depends_on for stack in stacks})
    if not cycle:
        return
    words = " -> ".join(cycle)
    for here, there in itertools.pairwise(cycle):
        stack = by_name[here]
        if there in stack.explicit_depends_on:
            continue
        ref = next(ref for ref in stack.inputs if ref.stack == there)
        report(
            f"stacks[{seen[here]}].inputs.{ref.name}",
            f"dependency cycle through inputs: {words} ({here!r} reads {ref.source})",
        )
        return
    report(f"stacks[{seen[cycle[0]]}].depends_on", "dependency cycle: " + words)


def _parse_stack(raw: Any, *, where: str, report: _Reporter) -> StackSpec | None:
    if not isinstance(raw, dict):
        report(where, f"must be a mapping, not {_type_name(raw)}")
        return None
    engine = raw.get("engine")
    engine_fields = specfields.ENGINE_FIELDS.get(engine, ()) if isinstance(engine, str) else ()
    allowed = {f.key: f for f in specfields.COMMON_FIELDS + engine_fields}
    before = len(report.issues)
    refused = specfields.REFUSED_FIELDS.get(engine, {}) if isinstance(engine, str) else {}
    for key in raw:
        if key in refused:
            report(f"{where}.{key}", refused[key])
        elif key not in allowed:
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
    _check_input_names(values, engine=engine, where=where, report=report)
    if engine == "kubernetes" and values.get("create_namespace") and not values.get("namespace"):
        report(f"{where}.create_namespace", "needs namespace: NAME (the namespace to create)")
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
            create_namespace=values["create_namespace"],
        )
    return StackSpec(
        name=values["name"],
        engine=engine,
        path=values["path"],
        depends_on=tuple(values["depends_on"]),
        explicit_depends_on=tuple(values["depends_on"]),
        auto_apply=values["auto_apply"],
        self_heal=values["self_heal"],
        drift_interval=values["drift_interval"],
        options=options,
        inputs=tuple(values["inputs"]),
        outputs=tuple(values.get("outputs", ())),
        source=dict(raw),
    )


def _check_input_names(values: Mapping[str, Any], *, engine: Any, where: str, report: _Reporter) -> None:
    """An input must not share its name with a variable the stack sets itself.

    Which of the two would win (Terraform's ``-var`` or the input, an Ansible extra var or
    the input) would be a surprise, so neither does: it is an error.
    """
    inputs: list[outputs.InputRef] = values.get("inputs") or []
    if engine == "terraform":
        own = {name: "vars" for name in values.get("vars") or {}}
        own.update(
            {
                name.removeprefix("TF_VAR_"): f"secret_env ({name})"
                for name in values.get("secret_env") or {}
                if name.startswith("TF_VAR_")
            }
        )
    elif engine == "ansible":
        own = {name: "extra_vars" for name in values.get("extra_vars") or {}}
    else:
        return
    for ref in inputs:
        if ref.name in own:
            report(
                f"{where}.inputs.{ref.name}",
                f"{ref.name!r} is also set in {own[ref.name]}; which one wins would be a surprise, "
                "so rename one of them",
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
    if kind == "inputs":
        return _check_inputs(value, where=where, report=report)
    if kind in ("ansible_outputs", "kubernetes_outputs"):
        return _check_outputs(value, kubernetes=kind == "kubernetes_outputs", where=where, report=report)
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


def _check_inputs(value: Any, *, where: str, report: Callable[[str, str], None]) -> list[outputs.InputRef]:
    """``inputs: {NAME: STACK.OUTPUT}``; whether STACK exists is checked with all stacks known."""
    if not isinstance(value, dict):
        report(where, f"must be a mapping of NAME: STACK.OUTPUT, not {_type_name(value)}")
        return []
    refs: list[outputs.InputRef] = []
    for name, source in value.items():
        if not isinstance(name, str) or not _INPUT_NAME.fullmatch(name):
            report(
                where,
                f"bad input name {_shown(name)}: a letter or '_', then letters, digits and '_' "
                "(at most 128; it becomes a variable name)",
            )
            continue
        here = f"{where}.{name}"
        if not isinstance(source, str):
            report(here, f"must be one string STACK.OUTPUT, not {_type_name(source)}")
            continue
        stack, dot, output = source.rpartition(".")
        if not dot or not stack or not output:
            report(here, f"bad reference {_shown(source)}: write STACK.OUTPUT, e.g. network.vpc_id")
        elif not _NAME.fullmatch(stack):
            report(here, f"bad reference {_shown(source)}: {_shown(stack)} is not a stack name")
        elif not _OUTPUT_NAME.fullmatch(output):
            report(
                here,
                f"bad reference {_shown(source)}: {_shown(output)} is not an output name "
                "(a letter or '_', then letters, digits, '_' and '-')",
            )
        else:
            refs.append(outputs.InputRef(name=name, stack=stack, output=output))
    return sorted(refs, key=lambda ref: ref.name)


def _check_outputs(
    value: Any, *, kubernetes: bool, where: str, report: Callable[[str, str], None]
) -> list[OutputSpec]:
    """``outputs:`` of an Ansible stack (``{sensitive}``) or a Kubernetes stack (object, path)."""
    allowed = ("object", "path", "namespace", "sensitive") if kubernetes else ("sensitive",)
    if not isinstance(value, dict):
        shape = "NAME: {object: ..., path: ...}" if kubernetes else "NAME: {sensitive: true}"
        report(where, f"must be a mapping of {shape}, not {_type_name(value)}")
        return []
    found: list[OutputSpec] = []
    report = _Counting(report)
    for name, entry in value.items():
        if not isinstance(name, str) or not _OUTPUT_NAME.fullmatch(name):
            report(
                where,
                f"bad output name {_shown(name)}: a letter or '_', then letters, digits, '_' and '-' "
                "(at most 128)",
            )
            continue
        here = f"{where}.{name}"
        if not isinstance(entry, dict):
            report(here, f"must be a mapping (keys: {', '.join(allowed)}), not {_type_name(entry)}")
            continue
        before = report.count
        for key in entry:
            if key not in allowed:
                report(f"{here}.{_plain(key)}", f"unknown key (allowed: {', '.join(allowed)})")
        sensitive = entry.get("sensitive", False)
        if not isinstance(sensitive, bool):
            report(f"{here}.sensitive", f"must be true or false, not {_type_name(sensitive)}")
        if not kubernetes:
            if report.count == before:
                found.append(OutputSpec(name=name, sensitive=sensitive))
            continue
        obj, path, namespace = entry.get("object"), entry.get("path"), entry.get("namespace")
        if obj is None:
            report(f"{here}.object", "missing (required): [GROUP/]VERSION/KIND/NAME, e.g. v1/Service/web")
        elif not isinstance(obj, str):
            report(f"{here}.object", f"must be a string, not {_type_name(obj)}")
        else:
            problem = _object_problem(obj)
            if problem:
                report(f"{here}.object", problem)
            elif obj.split("/")[:-1] == ["v1", "Secret"] and sensitive is False:
                if "sensitive" in entry:
                    report(f"{here}.sensitive", "a value read from a Secret is always sensitive")
                sensitive = True
        if path is None:
            report(
                f"{here}.path", "missing (required): a field path, e.g. .status.loadBalancer.ingress[0].ip"
            )
        elif not isinstance(path, str):
            report(f"{here}.path", f"must be a string, not {_type_name(path)}")
        else:
            try:
                fieldpaths.parse(path)
            except fieldpaths.FieldPathError as exc:
                report(f"{here}.path", f"bad field path: {exc}")
        if namespace is not None and (not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace)):
            report(
                f"{here}.namespace", f"bad namespace {_shown(namespace)}: a DNS-1123 label (a-z, 0-9, '-')"
            )
        if report.count == before:
            found.append(
                OutputSpec(name=name, sensitive=sensitive, object=obj, namespace=namespace, path=path)
            )
    return sorted(found, key=lambda item: item.name)


def _object_problem(text: str) -> str | None:
    """Why ``text`` is not ``[GROUP/]VERSION/KIND/NAME``, or None."""
    shape = "write [GROUP/]VERSION/KIND/NAME, e.g. v1/Service/web or apps/v1/Deployment/api"
    if len(text) > 600:
        return f"too long ({len(text)} characters); {shape}"
    parts = text.split("/")
    if len(parts) not in (3, 4):
        return f"bad object {_shown(text)}: {shape}"
    *group, version, kind, name = parts
    if group and not _dns_subdomain(group[0]):
        return f"bad API group {_shown(group[0])} in {_shown(text)}: a DNS subdomain such as apps or networking.k8s.io"
    if not _KUBERNETES_VERSION.fullmatch(version):
        return f"bad API version {_shown(version)} in {_shown(text)}: like v1, v1beta1, v2alpha1"
    if not _KUBERNETES_KIND.fullmatch(kind):
        return f"bad kind {_shown(kind)} in {_shown(text)}: like Service or ConfigMap (a capital first)"
    if not _dns_subdomain(name):
        return f"bad object name {_shown(name)} in {_shown(text)}: a DNS-1123 subdomain (a-z, 0-9, '-', '.')"
    return None


def _dns_subdomain(text: str) -> bool:
    """Whether ``text`` is a DNS-1123 subdomain (checked label by label: linear, bounded)."""
    if not text or len(text) > _MAX_DNS_SUBDOMAIN:
        return False
    return all(_DNS_LABEL.fullmatch(label) for label in text.split("."))


class _Counting:
    """A ``report`` callable that counts what went through it (did this entry add issues?)."""

    def __init__(self, report: Callable[[str, str], None]) -> None:
        self.report = report
        self.count = 0

    def __call__(self, where: str, message: str) -> None:
        self.count += 1
        self.report(where, message)


def _plain(key: Any) -> str:
    """A key as a field path segment: bounded, printable."""
    text = str(key)
    if len(text) > _SHOWN or not text.isprintable():
        return repr(text[:_SHOWN])
    return text


def _shown(value: Any) -> str:
    """A value quoted for an error message, cut to a readable length."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > _SHOWN:
        return repr(text[:_SHOWN]) + f" (+{len(text) - _SHOWN} more characters)"
    return repr(text)


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
