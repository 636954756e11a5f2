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


# A real config has a few hundred values; YAML aliases can make a small file expand to billions
# (an "alias bomb"), which validation and its messages would walk and print in full.
MAX_CONFIG_VALUES = 100_000
_MAX_MESSAGE = 200


def check_config_size(config: Any, limit: int = MAX_CONFIG_VALUES) -> None:
    """Refuse a config with more than ``limit`` values counted as validation would see them
    (shared YAML aliases expanded), in time proportional to ``limit`` whatever the file holds."""
    seen = 0
    stack = [config]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > limit:
            raise ValueError(
                f"invalid configuration: more than {limit} values once YAML aliases are expanded "
                "(a config has a few hundred; is an alias repeated on purpose?)"
            )
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)


def describe_error(error: Any) -> str:
    """``key.path: problem`` for a jsonschema error, short whatever the size of the bad value
    (jsonschema's own message quotes the whole value)."""
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message
    if len(message) > _MAX_MESSAGE:
        expected = repr(error.validator_value)
        if len(expected) > 80:
            expected = expected[:77] + "..."
        message = f"the value fails the schema's {error.validator!r} rule ({expected})"
    return f"{where}: {message}"


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A copy of ``config`` with the schema's defaults; ``ValueError`` naming the key otherwise."""
    check_config_size(config)
    filled = copy.deepcopy(dict(config))
    validator = _validator_with_defaults(schema if schema is not None else load_schema())
    error = next(iter(sorted(validator.iter_errors(filled), key=lambda e: [str(p) for p in e.absolute_path])), None)
    if error is not None:
        raise ValueError(f"invalid configuration: {describe_error(error)}")
    return filled

