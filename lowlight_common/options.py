"""One grammar for ``KEY=VALUE`` options, and checking option values against signatures.

Every command line (``enhance --option``, ``detectors detect --option``, ``diffll train --set``)
and the workflow use this grammar: VALUE is read as JSON when it is valid JSON (what the
workflow writes, so a config value arrives exactly as the config holds it), otherwise as YAML
(PyYAML, YAML 1.1: ``0.5``, ``[1, 2]``, ``{a: 1}``, ``true``/``false``/``yes``/``no``, ``null``;
anything else is a string). JSON alone is not enough because people type ``scales=[1,2]`` or
``checkpoint=models/x``; YAML alone is not either, since PyYAML reads the JSON number ``1e-05``
as a string.

Types are checked against the keyword parameters of the class that takes the options (its
``__init__`` annotations) with pydantic in strict mode, so a string never passes for a bool
(``"no"`` is not True), a float never for an int, and the error names the owner, the option and
the expected type before any job runs.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "OptionError",
    "check_option_types",
    "format_option",
    "option_annotations",
    "parse_option",
    "parse_options",
    "parse_value",
]


class OptionError(ValueError):
    """A malformed ``KEY=VALUE`` item, an unknown option or a value of the wrong type."""


def parse_value(text: str) -> Any:
    """The value of one ``KEY=VALUE`` item: JSON when it is JSON, else YAML (see the module)."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise OptionError(f"cannot parse {text!r} as YAML: {exc}") from None


def parse_option(item: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``("key", parsed value)``; an item without ``=`` or a key is an error."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise OptionError(f"expected KEY=VALUE, got {item!r}")
    try:
        return key.strip(), parse_value(value)
    except OptionError as exc:
        raise OptionError(f"option {key.strip()!r}: {exc}") from None


def parse_options(items: Iterable[str]) -> dict[str, Any]:
    """Several ``KEY=VALUE`` items as a dict (a later key overrides an earlier one)."""
    return dict(parse_option(item) for item in items)


def format_option(key: str, value: Any) -> str:
    """``key=<JSON>``: the text :func:`parse_option` reads back as exactly ``(key, value)``."""
    return f"{key}={json.dumps(value)}"


def option_annotations(target: Callable[..., Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """Type annotations of the named parameters of ``target`` (a class: its ``__init__``).

    Parameters without an annotation map to ``Any``; ``self``, ``*args``/``**kwargs`` and the
    names in ``skip`` are left out. An annotation that cannot be resolved is an error here
    rather than an option that silently escapes the check.
    """
    function = target.__init__ if isinstance(target, type) else target  # type: ignore[misc]
    skipped = set(skip) | {"self"}
    # only the options' annotations are resolved: a skipped one (``device: str | torch.device``)
    # may name a module that the target's module imports for type checking only (numpy methods
    # and torch), and resolving it would mean importing that module
    wanted = {k: v for k, v in getattr(function, "__annotations__", {}).items() if k not in skipped}
    holder = type("_Options", (), {"__annotations__": wanted})
    try:
        hints = typing.get_type_hints(holder, globalns=getattr(function, "__globals__", None))
    except Exception as exc:
        raise TypeError(f"{getattr(target, '__qualname__', target)}: cannot resolve the annotations of its options ({exc})") from None
    out: dict[str, Any] = {}
    for param in inspect.signature(function).parameters.values():
        if param.name in skipped or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        out[param.name] = hints.get(param.name, Any)
    return out


@functools.lru_cache(maxsize=256)
def _adapter(annotation: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(annotation)


def type_name(annotation: Any) -> str:
    """``float``, ``int | None``, ``Sequence[float]``: the annotation as a user reads it."""
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("collections.abc.", "").replace("NoneType", "None")


def check_option_types(owner: str, annotations: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Raise :class:`OptionError` listing every option whose value does not fit its annotation.

    Unknown option names are the caller's check (each registry words them with its own list of
    valid options); names missing from ``annotations`` are skipped here.
    """
    from pydantic import ValidationError

    problems = []
    for key, value in options.items():
        if key not in annotations or annotations[key] is Any:
            continue
        annotation = annotations[key]
        try:
            _adapter(annotation).validate_python(value, strict=True)
        except ValidationError:
            problems.append(f"option {key!r} expects {type_name(annotation)}, got {value!r} ({type(value).__name__})")
        except Exception as exc:  # an annotation pydantic cannot check is a bug of the class
            raise TypeError(f"{owner}: option {key!r}: cannot check annotation {annotation!r} ({exc})") from None
    if problems:
        raise OptionError(f"{owner}: " + "; ".join(problems))
