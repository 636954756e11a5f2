"""The project's own DiffLL model, used whenever no checkpoint is named.

``models/diffll-sice`` (trained on real SICE exposure pairs, see its ``MODEL_CARD.md``) is part
of the repository. Every entry point -- ``diffll enhance``, ``enhance --method diffll``, the
Python API and the workflow -- resolves a checkpoint with :func:`resolve_checkpoint`: an explicit
path first, then ``$DIFFLL_CHECKPOINT``, then this model. The shipped weights are checked
against the SHA-256 below before use, so a truncated or altered file is an error naming it
rather than a silently different result.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lowlight_common.files import sha256_file

__all__ = [
    "CHECKPOINT_ENV",
    "SHIPPED_MODEL_DIR",
    "SHIPPED_MODEL_SHA256",
    "ResolvedCheckpoint",
    "ShippedModelError",
    "resolve_checkpoint",
]

CHECKPOINT_ENV = "DIFFLL_CHECKPOINT"
SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "diffll-sice"
# sha256 of models/diffll-sice/model.safetensors as committed (update it with the model).
SHIPPED_MODEL_SHA256 = "9b5e1953a59addd00451b8d05df09a83248a81c5acf2230efe88240bdcacc369"


class ShippedModelError(FileNotFoundError):
    """The shipped model is missing or its bytes differ from the committed ones."""


@dataclass(frozen=True)
class ResolvedCheckpoint:
    path: Path
    source: str  # "option" | "environment" | "shipped"

    def describe(self) -> str:
        """One log line: which model, and why that one."""
        why = {
            "option": "given explicitly",
            "environment": f"from ${CHECKPOINT_ENV}",
            "shipped": "the project's shipped model, as no checkpoint was given",
        }[self.source]
        return f"diffll: using checkpoint {self.path} ({why})"


def check_shipped_model(model_dir: Path = SHIPPED_MODEL_DIR) -> Path:
    """Return the shipped model folder after checking that its weights are the committed ones."""
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise ShippedModelError(
            f"diffll: the shipped model {weights} is missing (it is part of the repository: "
            f"restore it with `git checkout -- {weights.relative_to(model_dir.parent.parent)}`, "
            f"or name another checkpoint with --checkpoint / ${CHECKPOINT_ENV})"
            if model_dir == SHIPPED_MODEL_DIR
            else f"diffll: the shipped model {weights} is missing"
        )
    digest = sha256_file(weights)
    if digest != SHIPPED_MODEL_SHA256:
        raise ShippedModelError(
            f"diffll: the shipped model {weights} is corrupt or altered: sha256 {digest}, "
            f"expected {SHIPPED_MODEL_SHA256}"
        )
    return model_dir


def resolve_checkpoint(
    checkpoint: str | os.PathLike[str] | None = None,
    *,
    environ: dict[str, str] | None = None,
    model_dir: Path = SHIPPED_MODEL_DIR,
) -> ResolvedCheckpoint:
    """An explicit checkpoint, else ``$DIFFLL_CHECKPOINT``, else the (checked) shipped model."""
    env = os.environ if environ is None else environ
    if checkpoint not in (None, ""):
        return ResolvedCheckpoint(Path(checkpoint).expanduser(), "option")
    if env.get(CHECKPOINT_ENV):
        return ResolvedCheckpoint(Path(env[CHECKPOINT_ENV]).expanduser(), "environment")
    return ResolvedCheckpoint(check_shipped_model(model_dir), "shipped")
