"""The fields of ``truenorth.yaml``: one table that drives both the checks and the schema.

:mod:`truenorth.core.specs` validates a stack against these tables; :func:`json_schema`
publishes the same tables as a JSON Schema (``truenorth schema``), so the documented
format and the enforced one cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from truenorth.core import fieldpaths

__all__ = [
    "COMMON_FIELDS",
    "ENGINES",
    "ENGINE_FIELDS",
    "ENV_NAME_PATTERN",
    "INPUT_NAME_PATTERN",
    "INPUT_SOURCE_PATTERN",
    "KUBERNETES_KIND_PATTERN",
    "KUBERNETES_VERSION_PATTERN",
    "LIMIT_PATTERN",
    "NAMESPACE_PATTERN",
    "NAME_PATTERN",
    "OUTPUT_NAME_PATTERN",
    "REFERENCE_PATTERN",
    "REFUSED_FIELDS",
    "VAR_NAME_PATTERN",
    "WORKSPACE_PATTERN",
    "Field",
    "json_schema",
]

ENGINES = ("terraform", "ansible", "kubernetes")
NAME_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$"
WORKSPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,89}$"
REFERENCE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"
LIMIT_PATTERN = r"^[A-Za-z0-9_.:*!&,\[\]@-]{1,1024}$"
VAR_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
#: An input's name: valid as a Terraform variable, an Ansible variable and a Flux
#: substitution name (``${NAME}``) alike.
INPUT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
#: An output's name (Terraform allows '-' in output names).
OUTPUT_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"
#: ``STACK.OUTPUT`` (the parser splits at the last '.', stack names may hold '.').
INPUT_SOURCE_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?\.[A-Za-z_][A-Za-z0-9_-]{0,127}$"
#: A Kubernetes namespace: a DNS-1123 label.
NAMESPACE_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
#: A Kubernetes API version without its group (``v1``, ``v1beta1``, ``v2alpha3``).
KUBERNETES_VERSION_PATTERN = r"^v[1-9][0-9]{0,3}((alpha|beta)[1-9][0-9]{0,3})?$"
#: A Kubernetes kind (``Service``, ``ConfigMap``).
KUBERNETES_KIND_PATTERN = r"^[A-Z][A-Za-z0-9]{0,62}$"


@dataclass(frozen=True)
class Field:
    """One key of a stack: its type (``kind``), default, and what the schema says of it."""

    key: str
    kind: str
    description: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    pattern: str | None = None


COMMON_FIELDS = (
    Field("name", "name", "Unique stack name (letters, digits, '-', '_', '.'; at most 63).", required=True),
    Field("engine", "enum", "The engine that plans and applies this stack.", required=True, choices=ENGINES),
    Field("path", "path", "The stack's folder, relative to the repository root.", required=True),
    Field("depends_on", "names", "Stacks that must be applied before this one.", default=[]),
    Field("auto_apply", "bool", "Apply new revisions without approval.", default=False),
    Field("self_heal", "bool", "Re-apply the deployed revision when drift is found.", default=False),
    Field("drift_interval", "duration", "How often to check for drift (Go-style duration).", default="10m"),
    Field(
        "inputs",
        "inputs",
        "Values read from other stacks' outputs: NAME: STACK.OUTPUT (implies depends_on on STACK).",
        default={},
    ),
)

ENGINE_FIELDS: dict[str, tuple[Field, ...]] = {
    "terraform": (
        Field(
            "vars", "mapping", "Input variables passed with -var (JSON-encoded when not strings).", default={}
        ),
        Field("var_files", "paths", "Variable files, relative to the repository root.", default=[]),
        Field("workspace", "string", "Terraform workspace.", default="default", pattern=WORKSPACE_PATTERN),
        Field("binary", "enum", "terraform or tofu.", default="terraform", choices=("terraform", "tofu")),
        Field(
            "secret_env",
            "secret_env",
            "Environment variables (TF_VAR_x, provider credentials) whose values are secret references.",
            default={},
        ),
    ),
    "ansible": (
        Field("playbook", "path", "Playbook, relative to the stack folder.", default="site.yml"),
        Field("inventory", "path", "Inventory, relative to the stack folder.", default=None),
        Field("limit", "string", "Host pattern passed to --limit.", default=None, pattern=LIMIT_PATTERN),
        Field("extra_vars", "mapping", "Extra variables (-e).", default={}),
        Field(
            "vault_password",
            "string",
            "Name of a vault password reference in the controller's configuration (never the password).",
            default=None,
            pattern=REFERENCE_PATTERN,
        ),
        Field(
            "outputs",
            "ansible_outputs",
            "set_stats keys this stack hands out that are sensitive: NAME: {sensitive: true}.",
            default={},
        ),
    ),
    "kubernetes": (
        Field(
            "target",
            "string",
            "Cluster name from the controller's configuration.",
            default=None,
            pattern=REFERENCE_PATTERN,
        ),
        Field(
            "namespace",
            "string",
            "Default namespace for namespaced objects.",
            default=None,
            pattern=NAMESPACE_PATTERN,
        ),
        Field(
            "create_namespace",
            "bool",
            "Create the stack's namespace before applying (needs namespace; never pruned).",
            default=False,
        ),
        Field("prune", "bool", "Delete objects truenorth applied earlier that left Git.", default=True),
        Field("allow_empty", "bool", "Allow a revision that removes every object.", default=False),
        Field("wait", "bool", "Wait for health after apply.", default=True),
        Field("timeout", "duration", "How long to wait for health.", default="5m"),
        Field(
            "ignore_differences", "ignore_differences", "JSON pointers to ignore per kind/name.", default=[]
        ),
        Field(
            "outputs",
            "kubernetes_outputs",
            "Values read from applied objects after health: NAME: {object: [GROUP/]VERSION/KIND/NAME, "
            "path: .status.x, namespace, sensitive}.",
            default={},
        ),
    ),
}

#: Keys an engine refuses with a reason of its own (rather than "unknown key").
REFUSED_FIELDS: dict[str, dict[str, str]] = {
    "terraform": {
        "outputs": "Terraform declares outputs in its code (output blocks, with their sensitive flag); "
        "remove outputs: here",
    },
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``truenorth.yaml``."""
    variants = []
    for engine, fields in ENGINE_FIELDS.items():
        properties = {f.key: _field_schema(f) for f in COMMON_FIELDS + fields}
        properties["engine"] = {
            "const": engine,
            "description": "The engine that plans and applies this stack.",
        }
        variants.append(
            {
                "type": "object",
                "title": f"{engine} stack",
                "properties": properties,
                "required": [f.key for f in COMMON_FIELDS if f.required],
                "additionalProperties": False,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://truenorth.dev/schemas/truenorth.yaml.json",
        "title": "truenorth repository spec",
        "type": "object",
        "properties": {
            "version": {"const": 1, "description": "Spec format version."},
            "stacks": {"type": "array", "items": {"oneOf": variants}},
        },
        "required": ["stacks"],
        "additionalProperties": False,
    }


def _field_schema(spec: Field) -> dict[str, Any]:
    out: dict[str, Any] = {"description": spec.description}
    if spec.kind == "name":
        out.update(type="string", pattern=NAME_PATTERN)
    elif spec.kind in ("string", "path"):
        out["type"] = "string"
    elif spec.kind == "enum":
        out.update(type="string", enum=list(spec.choices))
    elif spec.kind == "bool":
        out["type"] = "boolean"
    elif spec.kind == "duration":
        out.update(type="string", pattern=r"^(\d+(ms|s|m|h|d))+$")
    elif spec.kind == "mapping":
        out.update(type="object", propertyNames={"pattern": VAR_NAME_PATTERN})
    elif spec.kind in ("names", "paths"):
        out.update(type="array", items={"type": "string"}, uniqueItems=True)
    elif spec.kind == "secret_env":
        out.update(
            type="object",
            propertyNames={"pattern": ENV_NAME_PATTERN},
            additionalProperties={"type": "string", "pattern": REFERENCE_PATTERN},
        )
    elif spec.kind == "inputs":
        out.update(
            type="object",
            propertyNames={"pattern": INPUT_NAME_PATTERN},
            additionalProperties={"type": "string", "pattern": INPUT_SOURCE_PATTERN},
        )
    elif spec.kind == "ansible_outputs":
        out.update(
            type="object",
            propertyNames={"pattern": OUTPUT_NAME_PATTERN},
            additionalProperties={
                "type": "object",
                "properties": {"sensitive": {"type": "boolean", "default": False}},
                "additionalProperties": False,
            },
        )
    elif spec.kind == "kubernetes_outputs":
        out.update(
            type="object",
            propertyNames={"pattern": OUTPUT_NAME_PATTERN},
            additionalProperties={
                "type": "object",
                "properties": {
                    "object": {
                        "type": "string",
                        "description": "[GROUP/]VERSION/KIND/NAME, e.g. v1/Service/web or apps/v1/Deployment/api.",
                    },
                    "path": {
                        "type": "string",
                        "maxLength": fieldpaths.MAX_LENGTH,
                        "pattern": r"^[.\[]",
                        "description": 'Field path, e.g. .status.loadBalancer.ingress[0].ip or .data["tls.crt"].',
                    },
                    "namespace": {"type": "string", "pattern": NAMESPACE_PATTERN},
                    "sensitive": {"type": "boolean", "default": False},
                },
                "required": ["object", "path"],
                "additionalProperties": False,
            },
        )
    elif spec.kind == "ignore_differences":
        out.update(
            type="array",
            items={
                "type": "object",
                "properties": {
                    "group": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "namespace": {"type": "string"},
                    "json_pointers": {"type": "array", "items": {"type": "string", "pattern": "^/"}},
                },
                "required": ["kind", "json_pointers"],
                "additionalProperties": False,
            },
        )
    if spec.pattern and spec.kind == "string":
        out["pattern"] = spec.pattern
    if spec.default not in (None, [], {}):
        out["default"] = spec.default
    return out
