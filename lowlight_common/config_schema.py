"""The workflow config validated against ``workflow/schemas/config.schema.yaml``, defaults filled.

The schema owns every default: the workflow's ``validate`` (Snakemake, ``set_default``) and
:func:`validate_config` here (used by ``reports build`` when called on its own) fill the same
values by the same rule, so no rule or reader carries a fallback of its own that could drift.
The rule is jsonschema's documented recipe: a property missing from an object that is present
(or was itself filled from a ``default: {}``) gets the property's ``default``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(2, "config schema not found (run from a checkout: pip install -e .)", str(path))
    return yaml.safe_load(path.read_text())


def _validator_with_defaults(schema: Mapping[str, Any]) -> Any:
    from jsonschema import Draft202012Validator, validators

    validate_properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: Mapping, instance: Any, node: Mapping) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])  # no default shared between configs
        yield from validate_properties(validator, properties, instance, node)

    return validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``config`` with the schema's defaults; ``ValueError`` naming the key otherwise."""
    filled = copy.deepcopy(dict(config))
    validator = _validator_with_defaults(schema if schema is not None else load_schema())
    error = next(iter(sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"invalid configuration: {where}: {error.message}")
    return filled

