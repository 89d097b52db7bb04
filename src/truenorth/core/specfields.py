"""The fields of ``truenorth.yaml``: one table that drives both the checks and the schema.

:mod:`truenorth.core.specs` validates a stack against these tables; :func:`json_schema`
publishes the same tables as a JSON Schema (``truenorth schema``), so the documented
format and the enforced one cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "COMMON_FIELDS",
    "ENGINES",
    "ENGINE_FIELDS",
    "ENV_NAME_PATTERN",
    "LIMIT_PATTERN",
    "NAME_PATTERN",
    "REFERENCE_PATTERN",
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
            pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        ),
        Field("prune", "bool", "Delete objects truenorth applied earlier that left Git.", default=True),
        Field("allow_empty", "bool", "Allow a revision that removes every object.", default=False),
        Field("wait", "bool", "Wait for health after apply.", default=True),
        Field("timeout", "duration", "How long to wait for health.", default="5m"),
        Field(
            "ignore_differences", "ignore_differences", "JSON pointers to ignore per kind/name.", default=[]
        ),
    ),
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
