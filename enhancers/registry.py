"""Name -> method class (+ fixed arguments): the single list of available methods.

Classes are ``"module:Class"`` entries of a :class:`lowlight_common.registry.Registry`, imported
the first time a method is described or built, so listing names (and ``enhance --help``) does
not import torch or any network. A method with fixed arguments (``sci_easy`` is ``SCIMethod``
with ``variant="easy"``) lists them in ``_FIXED``; those are not user options.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lowlight_common.options import OptionError, check_option_types, option_annotations
from lowlight_common.registry import Registry, UnknownNameError

if TYPE_CHECKING:
    import torch

    from enhancers.base import Method, MethodInfo

__all__ = [
    "UnknownNameError",
    "check_method_options",
    "create_method",
    "list_methods",
    "method_class",
    "method_info",
    "method_options",
    "register_method",
    "unregister_method",
]


def _is_method(name: str, value: Any) -> None:
    from enhancers.base import Method

    if not (isinstance(value, type) and issubclass(value, Method)):
        raise TypeError(f"method {name!r}: {value!r} is not a Method subclass")


_METHODS: Registry[type[Method]] = Registry(
    "method",
    {
        "raw": "enhancers.classical:Raw",
        "he": "enhancers.classical:HistogramEqualisation",
        "clahe": "enhancers.classical:CLAHE",
        "gamma": "enhancers.classical:Gamma",
        "gamma_auto": "enhancers.classical:GammaAuto",
        "lime": "enhancers.lime:LIME",
        "msrcr": "enhancers.msrcr:MSRCR",
        "zero_dce": "enhancers.learned:ZeroDCEMethod",
        "zero_dce_pp": "enhancers.learned:ZeroDCEPPMethod",
        "sci_easy": "enhancers.learned:SCIMethod",
        "sci_medium": "enhancers.learned:SCIMethod",
        "sci_difficult": "enhancers.learned:SCIMethod",
        "ruas_lol": "enhancers.learned:RUASMethod",
        "ruas_upe": "enhancers.learned:RUASMethod",
        "ruas_dark": "enhancers.learned:RUASMethod",
        "uretinex": "enhancers.learned:URetinexMethod",
        "pairlie": "enhancers.recent:PairLIEMethod",
        "selfdace_stage1": "enhancers.recent:SelfDACEStage1Method",
        "zero_ig": "enhancers.recent:ZeroIGMethod",
        "clip_lit": "enhancers.recent_b:CLIPLITMethod",
        "iat": "enhancers.recent_b:IATMethod",
        "colie": "enhancers.colie:CoLIE",
        "diffll": "enhancers.diffll_adapter:DiffLLMethod",
    },
    check=_is_method,
)

_FIXED: dict[str, dict[str, Any]] = {
    "sci_easy": {"variant": "easy"},
    "sci_medium": {"variant": "medium"},
    "sci_difficult": {"variant": "difficult"},
    "ruas_lol": {"variant": "lol"},
    "ruas_upe": {"variant": "upe"},
    "ruas_dark": {"variant": "dark"},
}


def list_methods() -> list[str]:
    """Names accepted by :func:`create_method`, classical first, DiffLL last."""
    return _METHODS.names()


def register_method(
    name: str, cls: type[Method] | str, fixed: Mapping[str, Any] | None = None, *, overwrite: bool = False
) -> None:
    """Add a method (a class or a ``"module:Class"`` string) under ``name``; ``fixed`` are
    constructor arguments the name implies (not user options)."""
    _METHODS.register(name, cls, overwrite=overwrite)
    _FIXED[name] = dict(fixed or {})


def unregister_method(name: str) -> None:
    _METHODS.unregister(name)
    _FIXED.pop(name, None)


def method_class(name: str) -> type[Method]:
    """The class behind ``name`` (imported on first use); :class:`UnknownNameError` otherwise."""
    return _METHODS[name]


def _lookup(name: str) -> tuple[type[Method], dict[str, Any]]:
    return _METHODS[name], _FIXED.get(name, {})


def method_options(name: str) -> dict[str, Any]:
    """User-settable options of ``name`` with their defaults."""
    cls, fixed = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return {
        p.name: p.default
        for p in params.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in fixed
    }


def method_info(name: str, **options: Any) -> MethodInfo:
    """Metadata for ``name`` with these options (defaults for the rest), without loading any
    weights; the options are checked as :func:`create_method` checks them."""
    cls, fixed = _lookup(name)
    check_method_options(name, options)
    return cls.describe(**fixed, **options)  # type: ignore[attr-defined]


def check_method_options(name: str, options: Mapping[str, Any]) -> None:
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
