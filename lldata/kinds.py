"""Dataset kinds as records: the one place that says how a kind is laid out and what it holds.

Everything that depends on a dataset's kind reads its :class:`DatasetKind`: validation
(``scanner``), the workflow's path checks (``folders``) and its inputs (``input_folders``), and whether face detection is planned
(``has_boxes``, also written to ``dataset.json`` for the report). Adding a kind is one record plus one line in ``_KINDS``; a kind
outside the package is named ``"module:NAME"`` (a :class:`DatasetKind` in an importable module,
e.g. a ``module.py`` in the working directory) wherever a kind is accepted.

Scanners are ``"module:function"`` strings, imported on use, so this module imports nothing of
:mod:`lldata.datasets` (which reads the records here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lowlight_common.registry import Registry, load_object

__all__ = ["DatasetKind", "get_kind", "list_kinds", "register_kind", "unregister_kind"]


@dataclass(frozen=True)
class DatasetKind:
    """How one kind of dataset is laid out.

    ``scanner(root, clip_boxes, issues) -> list[Item]`` validates a dataset folder (appending
    :class:`lldata.issues.Issue` objects); ``folders`` must exist (checked before any job);
    ``input_folders`` are every folder validation reads (``"."`` is the root), with
    ``label_folder`` holding ``.txt`` labels and the others images (the scanner's ``Item.image``
    is the low-light input, in any folder: shards list image paths); ``has_boxes``: items carry
    face boxes, so detection is run and scored.
    """

    name: str
    scanner: str | Callable[..., Any]
    folders: tuple[str, ...] = ()
    input_folders: tuple[str, ...] = (".",)
    label_folder: str | None = None
    has_boxes: bool = False

    def scan(self, *args: Any) -> Any:
        scanner = load_object(self.scanner) if isinstance(self.scanner, str) else self.scanner
        return scanner(*args)


DARKFACE = DatasetKind(
    "darkface",
    "lldata.datasets:scan_darkface",
    folders=("image", "label"),
    input_folders=("image", "label", "reference"),
    label_folder="label",
    has_boxes=True,
)
PAIRED = DatasetKind("paired", "lldata.datasets:scan_paired", folders=("low", "high"), input_folders=("low", "high"))
UNPAIRED = DatasetKind("unpaired", "lldata.datasets:scan_unpaired")


def _is_kind(name: str, value: Any) -> None:
    if not isinstance(value, DatasetKind):
        raise TypeError(f"dataset kind {name!r}: {value!r} is not an lldata.kinds.DatasetKind")


_KINDS: Registry[DatasetKind] = Registry("dataset kind", {k.name: k for k in (DARKFACE, PAIRED, UNPAIRED)}, check=_is_kind)


def list_kinds() -> list[str]:
    return _KINDS.names()


def get_kind(name: str) -> DatasetKind:
    """The record of a registered kind or of a ``"module:NAME"`` plug-in; an unknown name or a
    plug-in that cannot be imported is a ``ValueError`` naming it."""
    return _KINDS[name]


def register_kind(kind: DatasetKind, *, overwrite: bool = False) -> None:
    _is_kind(kind.name, kind)
    _KINDS.register(kind.name, kind, overwrite=overwrite)


def unregister_kind(name: str) -> None:
    _KINDS.unregister(name)
