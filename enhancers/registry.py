"""Name -> method class (+ fixed arguments): the single list of available methods."""

from __future__ import annotations

import inspect
import os
from typing import Any

import torch

from enhancers.base import Method, MethodInfo
from enhancers.classical import CLAHE, Gamma, GammaAuto, HistogramEqualisation, Raw
from enhancers.diffll_adapter import DiffLLMethod
from enhancers.learned import (
    RUASMethod,
    SCIMethod,
    URetinexMethod,
    ZeroDCEMethod,
    ZeroDCEPPMethod,
)
from enhancers.lime import LIME
from enhancers.msrcr import MSRCR
from lowlight_common.options import OptionError, check_option_types, option_annotations

_METHODS: dict[str, tuple[type[Method], dict[str, Any]]] = {
    "raw": (Raw, {}),
    "he": (HistogramEqualisation, {}),
    "clahe": (CLAHE, {}),
    "gamma": (Gamma, {}),
    "gamma_auto": (GammaAuto, {}),
    "lime": (LIME, {}),
    "msrcr": (MSRCR, {}),
    "zero_dce": (ZeroDCEMethod, {}),
    "zero_dce_pp": (ZeroDCEPPMethod, {}),
    "sci_easy": (SCIMethod, {"variant": "easy"}),
    "sci_medium": (SCIMethod, {"variant": "medium"}),
    "sci_difficult": (SCIMethod, {"variant": "difficult"}),
    "ruas_lol": (RUASMethod, {"variant": "lol"}),
    "ruas_upe": (RUASMethod, {"variant": "upe"}),
    "ruas_dark": (RUASMethod, {"variant": "dark"}),
    "uretinex": (URetinexMethod, {}),
    "diffll": (DiffLLMethod, {}),
}


def list_methods() -> list[str]:
    """Names accepted by :func:`create_method`, classical first, DiffLL last."""
    return list(_METHODS)


def _lookup(name: str) -> tuple[type[Method], dict[str, Any]]:
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(_METHODS)}") from None


def method_options(name: str) -> dict[str, Any]:
    """User-settable options of ``name`` with their defaults."""
    cls, fixed = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return {
        p.name: p.default
        for p in params.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in fixed
    }


def method_info(name: str) -> MethodInfo:
    """Metadata for ``name`` with default options, without loading any weights."""
    cls, fixed = _lookup(name)
    return cls.describe(**fixed)  # type: ignore[attr-defined]


def check_method_options(name: str, options: dict[str, Any]) -> None:
    """Unknown option names and values of the wrong type are errors (``OptionError``, a
    ``ValueError``) naming the method, the option and the expected type; nothing is built, so
    the workflow runs this for every configured method before any job."""
    cls, fixed = _lookup(name)
    allowed = method_options(name)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(f"{k} (default {v!r})" for k, v in allowed.items()) or "none"
        raise OptionError(f"{name}: unknown option(s) {', '.join(unknown)}; valid options: {valid}")
    annotations = option_annotations(cls, skip=("device", "weights_dir", *fixed))
    check_option_types(name, annotations, options)


def create_method(
    name: str,
    device: str | torch.device = "auto",
    weights_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Method:
    """Build method ``name`` (weights loaded and verified once, here).

    ``device``: "auto" (CUDA when present), "cpu", "cuda", "cuda:1", ... ``weights_dir``: folder
    with the released weights (else $LOWLIGHT_WEIGHTS, else ~/.cache/lowlight-faces/weights).
    """
    cls, fixed = _lookup(name)
    check_method_options(name, options)
    return cls(device=device, weights_dir=weights_dir, **fixed, **options)
