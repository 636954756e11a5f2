"""One registry helper for methods, detectors and metrics: names to lazily imported entries.

An entry is either an object, or a ``"module:attribute"`` string that is imported the first
time the entry is used, so listing names (and ``--help``) never imports torch, onnxruntime or
pyiqa. Looking up a name that is not registered raises :class:`UnknownNameError`, the one error
type of every registry; it is both a ``KeyError`` (a mapping lookup) and a ``ValueError`` (a bad
value given by the user), so callers catching either keep working.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "UnknownNameError", "is_plugin_spec", "load_object", "load_plugin", "plugin_file"]

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


def is_plugin_spec(name: str) -> bool:
    """Whether a user-given name is a ``"module:Class"`` plug-in rather than a registered name
    (registered names never hold a colon)."""
    return isinstance(name, str) and ":" in name


def load_plugin(spec: str, kind: str = "plug-in") -> Any:
    """Import a user's ``"module:Class"`` (``enhance``, ``detectors``, the workflow config, the
    efficiency harness): from an installed package, or else from a ``module.py`` in the current
    working directory (appended to ``sys.path``, so it never shadows an installed module). Any
    failure is a ``ValueError`` naming the spec, the folder searched and the cause, for the CLI
    contract (exit 2) and the workflow's config check."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr or ":" in attr:
        raise ValueError(f"{kind} {spec!r}: expected 'module:Class' (e.g. 'my_plugins:MyClass')")
    cwd = _working_directory_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"{kind} {spec!r}: cannot import module {module_name!r} from the installed packages or {cwd} ({exc})"
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ValueError(f"{kind} {spec!r}: module {module_name!r} ({module.__file__}) has no attribute {attr!r}") from None


def _working_directory_on_path() -> str:
    """Plug-ins are found in the installed packages first, then in the current folder."""
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.append(cwd)
    return cwd


def plugin_file(spec: str) -> str | None:
    """The source file of a ``"module:NAME"`` plug-in's module, found as :func:`load_plugin`
    finds it but without running it (None for a registered name, or a module without a file).
    The workflow makes it an input of the jobs that use the plug-in, with its sha256 in their
    params: editing the plug-in reruns them, as replacing a weights file does."""
    if not is_plugin_spec(spec):
        return None
    import importlib.util

    _working_directory_on_path()
    try:
        found = importlib.util.find_spec(spec.partition(":")[0])
    except (ImportError, ValueError):
        return None  # load_plugin reports it, naming the spec
    origin = found.origin if found is not None else None
    return origin if origin and os.path.isfile(origin) else None


class Registry(Mapping[str, T], Generic[T]):
    """Name -> entry, in registration order (the order lists and reports show).

    ``kind`` words the error (``unknown method 'x'; known: ...``). ``check`` validates an
    entry once it is loaded (e.g. that a class is a ``Detector`` subclass). Membership,
    iteration and :meth:`names` never import anything. Besides registered names, looking up a
    ``"module:Class"`` plug-in imports it (:func:`load_plugin`) and applies the same ``check``.
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
        if name not in self._entries and is_plugin_spec(name):
            value = load_plugin(name, self.kind)
            if self._check is not None:
                try:
                    self._check(name, value)
                except TypeError as exc:  # a user's plug-in: a bad value, as an unknown name is
                    raise ValueError(str(exc)) from None
            self._loaded[name] = value
            return value
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
