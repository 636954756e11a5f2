"""Strict loading of dataclasses from plain dicts (config files, JSON records).

A key the dataclass does not have is an error that names what was being read and lists the
known keys, so a typo in a config never runs with a silent default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["dataclass_from_dict"]

T = TypeVar("T")


def dataclass_from_dict(
    cls: type[T],
    data: Mapping[str, Any] | None,
    what: str,
    convert: Mapping[str, Callable[[Any], Any]] | None = None,
) -> T:
    """``cls(**data)`` after checking every key is an init field of ``cls``.

    ``what`` words the error (``"demo option(s)"`` -> ``unknown demo option(s): x; known: ...``);
    ``convert`` maps a key to a function applied to its value first (lists from YAML/JSON to
    tuples, nested dataclasses).
    """
    values = dict(data or {})
    known = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for key, function in (convert or {}).items():
        if key in values:
            values[key] = function(values[key])
    return cls(**values)
