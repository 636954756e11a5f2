"""One registry helper for methods, detectors and metrics: names to lazily imported entries.

An entry is either an object, or a ``"module:attribute"`` string that is imported the first
time the entry is used, so listing names (and ``--help``) never imports torch, onnxruntime or
pyiqa. Looking up a name that is not registered raises :class:`UnknownNameError`, the one error
type of every registry; it is both a ``KeyError`` (a mapping lookup) and a ``ValueError`` (a bad
value given by the user), so callers catching either keep working.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "UnknownNameError", "load_object"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that no registry entry has; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def load_object(spec: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"registry entry {spec!r}: expected 'module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"registry entry {spec!r}: {module_name} has no attribute {attr!r}") from None


class Registry(Mapping[str, T], Generic[T]):
    """Name -> entry, in registration order (the order lists and reports show).

    ``kind`` words the error (``unknown method 'x'; known: ...``). ``check`` validates an
    entry once it is loaded (e.g. that a class is a ``Detector`` subclass). Membership,
    iteration and :meth:`names` never import anything.
    """

    def __init__(
        self,
        kind: str,
        entries: Mapping[str, str | T] | None = None,
        check: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.kind = kind
        self._entries: dict[str, str | T] = dict(entries or {})
        self._loaded: dict[str, T] = {}
        self._check = check

    # ---- names (no imports) -------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def unknown(self, name: str) -> UnknownNameError:
        known = ", ".join(self._entries) or "(none)"
        return UnknownNameError(f"unknown {self.kind} {name!r}; known: {known}")

    def spec(self, name: str) -> str | T:
        """The entry as registered (a ``"module:attribute"`` string is not imported)."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    # ---- entries --------------------------------------------------------------------------

    def __getitem__(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        entry = self.spec(name)
        value = load_object(entry) if isinstance(entry, str) else entry
        if self._check is not None:
            self._check(name, value)
        self._loaded[name] = value
        return value

    def register(self, name: str, entry: str | T, *, overwrite: bool = False) -> None:
        if not overwrite and name in self._entries:
            raise ValueError(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        self._loaded.pop(name, None)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)
        self._loaded.pop(name, None)
