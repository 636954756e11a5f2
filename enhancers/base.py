"""The one interface every enhancement method implements.

A :class:`Method` turns a low-light image into an enhanced one. Callers hand it whatever they
hold -- an ``H x W x 3`` uint8 or float [0, 1] numpy image, or a ``B x 3 x H x W`` float tensor
batch -- and get the same kind back, in [0, 1] float. Subclasses implement only the
representation they work in natively (numpy for classical methods, tensors for networks); this
module converts at the boundary so that no method repeats the checks.

The module does not import torch: a classical method's job (``enhance --method raw|he|clahe|...``)
then starts in a fraction of the time (torch's import was over 80% of a one-image job's CPU time).
The tensor helpers import it when called, and a network method's module imports it anyway.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

# re-exported: the methods import resolve_device from here
from lowlight_common.devices import resolve_device as resolve_device

if TYPE_CHECKING:
    import torch

Family = Literal["classical", "learned", "identity", "diffusion"]


@dataclass(frozen=True)
class MethodInfo:
    """Metadata reported by ``enhance --list`` and stored with results."""

    name: str
    family: Family
    needs_gpu: bool
    deterministic: bool
    parameters: int | None
    weights_files: tuple[str, ...] = ()
    weights_licence: str | None = None
    paper: str = ""
    description: str = ""
    options: dict[str, object] = field(default_factory=dict)


def resolve_host_device(device: str | torch.device = "auto") -> str | torch.device:
    """The device of a method that computes in numpy on the host: ``"cpu"`` for ``auto`` and
    ``cpu``, answered without importing torch (``auto`` picks where the method runs, and a numpy
    method runs on the CPU whatever GPU is present); any other request is checked by
    :func:`resolve_device` (``cuda`` without CUDA is an error, as for every method)."""
    if isinstance(device, str) and device in ("auto", "cpu"):
        return "cpu"
    return resolve_device(device)


def _loaded_torch() -> Any:
    """torch if some module has imported it, else None: an input can only be a tensor, and a
    method can only compute with torch, once torch is loaded."""
    return sys.modules.get("torch")


def _check_float_range(arr: np.ndarray | torch.Tensor, what: str) -> None:
    lo = float(arr.min())
    hi = float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{what}: contains NaN or infinite values")
    if lo < -1e-6 or hi > 1.0 + 1e-6:
        raise ValueError(
            f"{what}: float images must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}] "
            "(pass uint8 for 0..255 data)"
        )


def numpy_to_float(image: np.ndarray) -> np.ndarray:
    """Validate an ``H x W x 3`` uint8/float image and return it as float32 in [0, 1]."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 RGB image, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"empty image of shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(arr.dtype, np.floating):
        _check_float_range(arr, "image")
        return np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)
    raise TypeError(f"expected uint8 or float image, got dtype {arr.dtype}")


def check_batch(batch: torch.Tensor) -> None:
    """Raise a clear error unless ``batch`` is a ``B x 3 x H x W`` float tensor in [0, 1]."""
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected a B x 3 x H x W tensor, got shape {tuple(batch.shape)}")
    if not batch.is_floating_point():
        raise TypeError(f"expected a float tensor batch, got dtype {batch.dtype}")
    if batch.numel() == 0:
        raise ValueError(f"empty batch of shape {tuple(batch.shape)}")
    _check_float_range(batch, "batch")


def numpy_to_batch(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """``H x W x 3`` float32 [0, 1] -> ``1 x 3 x H x W`` float32 tensor on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)


def batch_to_numpy(batch: torch.Tensor) -> list[np.ndarray]:
    """``B x 3 x H x W`` tensor -> list of ``H x W x 3`` float32 numpy images."""
    import torch

    arr = batch.detach().to("cpu", torch.float32).numpy()
    return [np.ascontiguousarray(a.transpose(1, 2, 0)) for a in arr]


@contextlib.contextmanager
def exact_fp32(device: torch.device) -> Iterator[None]:
    """Run CUDA float32 maths in true float32 (no TF32) with deterministic cuDNN kernels.

    The reference README warns that TF32 convolutions can change outputs by around 1e-3; the
    authors' golden outputs were computed in float32. Only flags change (and are restored), so
    this is a no-op for CPU devices.
    """
    if str(device).split(":")[0] != "cuda":  # a torch.device or a name ("cpu" of numpy methods)
        yield
        return
    import torch

    cudnn = torch.backends.cudnn
    matmul = torch.backends.cuda.matmul
    new_api = hasattr(cudnn, "conv") and hasattr(matmul, "fp32_precision")
    if new_api:  # torch >= 2.9: per-backend precision settings (conv and rnn kept in step)
        saved = (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision, matmul.fp32_precision)
    else:
        saved = (cudnn.allow_tf32, matmul.allow_tf32)
    saved_det = (cudnn.deterministic, cudnn.benchmark)
    try:
        if new_api:
            cudnn.conv.fp32_precision = cudnn.rnn.fp32_precision = "ieee"
            matmul.fp32_precision = "ieee"
        else:
            cudnn.allow_tf32 = False
            matmul.allow_tf32 = False
        cudnn.deterministic, cudnn.benchmark = True, False
        yield
    finally:
        if new_api:
            cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision, matmul.fp32_precision = saved
        else:
            cudnn.allow_tf32, matmul.allow_tf32 = saved
        cudnn.deterministic, cudnn.benchmark = saved_det


def _fill(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with every ``{key}`` of ``values`` replaced by the value."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def with_defaults(cls: type[Method], options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` over the defaults of ``cls``'s keyword options (its constructor's signature,
    where they are written once), for the module-level function a method wraps (``lime_enhance``,
    ``msrcr``); an option ``cls`` does not take is a ``TypeError``, as in a call."""
    defaults = cls.default_options()
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"{cls.name}: unexpected option(s) {', '.join(unknown)}; known: {', '.join(defaults)}")
    return {**defaults, **options}


class Method:
    """Base class: subclasses override :meth:`_enhance_numpy` or :meth:`_enhance_batch`.

    ``enhance`` validates the input, calls the native implementation and clips to [0, 1]:
    some published networks (RUAS-lol, URetinex-Net) overshoot, and every consumer downstream
    expects an image.

    Metadata are class attributes (``name``, ``family``, ``paper``, ``description``, ...), read by
    ``enhance --list`` without building anything; :meth:`describe` turns them and a set of options
    into the :class:`MethodInfo` stored with results. A class with ``variants`` (SCI, RUAS) is
    registered once per variant: the name gets ``_<variant>``, ``{variant}`` in ``weights_files``
    and ``{trained_on}`` in ``description`` are filled in. ``{<option>}`` in ``weights_files`` is
    filled with that option's value (ZERO-IG picks its weight file with an option).

    :meth:`to_uint8` makes the 8-bit file of a result: the project's rounding unless a method's
    authors save theirs otherwise.
    """

    name: ClassVar[str] = ""
    family: ClassVar[Family] = "classical"
    needs_gpu: ClassVar[bool] = False
    deterministic: ClassVar[bool] = True
    parameters: ClassVar[int | None] = 0  # learned methods count their network's
    weights_files: ClassVar[tuple[str, ...]] = ()
    paper: ClassVar[str] = ""
    description: ClassVar[str] = ""
    variants: ClassVar[Mapping[str, str]] = {}  # variant -> what it was trained on

    info: MethodInfo
    _generator: torch.Generator | None = None

    # --- metadata -----------------------------------------------------------------------------
    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """The keyword-only arguments of ``__init__`` with their defaults (``variant`` included)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}

    @classmethod
    def count_parameters(cls, options: Mapping[str, Any]) -> int | None:
        """Learnable parameters with these options (networks override: counted, not typed in)."""
        return cls.parameters

    @classmethod
    def describe(cls, **options: Any) -> MethodInfo:
        """Metadata for these options (defaults for the rest), without loading any weights."""
        if not getattr(cls, "name", ""):
            raise TypeError(f"{cls.__qualname__}: set the class attribute 'name' (or override describe)")
        opts = {**cls.default_options(), **options}
        variant = opts.pop("variant", None)
        trained_on = ""
        if cls.variants:
            if variant not in cls.variants:
                raise ValueError(f"{cls.name}: variant must be one of {sorted(cls.variants)}, got {variant!r}")
            trained_on = cls.variants[variant]
        files = tuple(_fill(f, {**opts, "variant": variant}) for f in cls.weights_files)
        licence = None
        if files:
            from enhancers.weights import manifest

            licence = "; ".join(sorted({manifest()[f].licence for f in files}))
        return MethodInfo(
            name=cls.name if variant is None else f"{cls.name}_{variant}",
            family=cls.family,
            needs_gpu=cls.needs_gpu,
            deterministic=cls.deterministic,
            parameters=cls.count_parameters({**opts, "variant": variant}),
            weights_files=files,
            weights_licence=licence,
            paper=cls.paper,
            description=cls.description.replace("{trained_on}", trained_on),
            options=opts,
        )

    def __init__(self, info: MethodInfo, device: str | torch.device) -> None:
        self.info = info
        self.device = device

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.info.options.items())
        return f"<{type(self).__name__} {self.info.name} device={self.device} {opts}>"

    # --- the 8-bit file ---------------------------------------------------------------------
    def to_uint8(self, image: np.ndarray) -> np.ndarray:
        """The 8-bit image written for an :meth:`enhance` result (``H x W x 3`` float, [0, 1]).

        The project's rule (:func:`lldata.imageio.float_to_uint8`, rounding to nearest). Methods
        whose authors save their results otherwise override it, so that the file the workflow
        writes is the file the authors' script writes (PairLIE and ZERO-IG truncate: rounding
        would change about half of the pixels by one level).
        """
        from lldata.imageio import float_to_uint8

        return float_to_uint8(image)

    # --- native implementations (override at least one) -------------------------------
    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        """``H x W x 3`` float32 [0, 1] -> ``H x W x 3`` float (unclipped allowed)."""
        out = self._enhance_batch(numpy_to_batch(image, self.device), name)
        return batch_to_numpy(out)[0]

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        """``B x 3 x H x W`` float32 tensor on ``self.device`` -> same shape (unclipped allowed)."""
        if type(self)._enhance_numpy is Method._enhance_numpy:
            raise NotImplementedError(f"{type(self).__name__} implements no enhancement")
        import torch

        outs = [self._enhance_numpy(img, name) for img in batch_to_numpy(batch)]
        stacked = np.stack([o.transpose(2, 0, 1) for o in outs])
        return torch.from_numpy(stacked).to(batch.device)

    # --- batches (methods whose network gains from them override these) -------------------
    def batch_key(self, height: int, width: int) -> tuple[int, int]:
        """Images with equal keys may go through :meth:`enhance_many` together."""
        return height, width

    def max_batch(self, height: int, width: int, requested: int | str = "auto") -> int:
        """Images of this size per :meth:`enhance_many` call; most methods take one at a time."""
        return 1

    def enhance_many(
        self, images: list[np.ndarray], names: list[str | None]
    ) -> list[np.ndarray]:
        """Enhance several ``H x W x 3`` images of one :meth:`batch_key`; the default loops."""
        return [
            self.enhance(image, name=name) for image, name in zip(images, names, strict=True)
        ]

    # --- public API -----------------------------------------------------------------------
    def enhance(
        self,
        image: np.ndarray | torch.Tensor,
        *,
        name: str | None = None,
        generator: torch.Generator | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Enhance one numpy image or a tensor batch; returns the same kind in [0, 1] float.

        ``name`` (the file name) lets stochastic methods derive a per-image seed, so the result
        does not depend on processing order; ``generator`` overrides that with explicit random
        state. Deterministic methods ignore both.
        """
        self._generator = generator
        try:
            return self._enhance_any(image, name)
        finally:
            self._generator = None

    def enhance_file(self, path: str | os.PathLike[str]) -> np.ndarray:
        """The 8-bit image the workflow (and ``enhance``) writes for the input file ``path``.

        Read as the workflow reads it (:func:`lldata.imageio.read_rgb`), enhanced with
        ``name=<the file's name>`` (stochastic methods such as DiffLL derive the image's seed
        from the method's ``seed`` option and this name: ``m.enhance(img)`` without a name uses
        the bare ``seed`` and gives other bytes), then converted by :meth:`to_uint8`. The bytes
        equal the workflow's for the same options and the same number of torch/OpenMP threads
        (``OMP_NUM_THREADS``; the workflow's jobs run with the thread policy of
        :mod:`lowlight_common.threads`): other thread counts sum in another order and may
        change the last bit of a float, and so, rarely, an 8-bit level.
        """
        from lldata.imageio import read_rgb

        return self.to_uint8(self.enhance(read_rgb(path), name=Path(path).name))

    def _enhance_any(
        self, image: np.ndarray | torch.Tensor, name: str | None
    ) -> np.ndarray | torch.Tensor:
        torch = _loaded_torch()
        if torch is not None and isinstance(image, torch.Tensor):
            check_batch(image)
            x = image.to(self.device, torch.float32).clamp(0.0, 1.0)
            with torch.inference_mode():
                out = self._enhance_batch(x, name)
            self._check_output(tuple(out.shape), tuple(x.shape))
            if not torch.isfinite(out).all():
                raise RuntimeError(f"{self.info.name}: produced NaN or infinite values")
            return out.clamp(0.0, 1.0).to(image.device, image.dtype)
        img = numpy_to_float(image)
        # a numpy method without torch loaded computes in numpy only: no autograd to turn off
        with torch.inference_mode() if torch is not None else contextlib.nullcontext():
            out_np = np.asarray(self._enhance_numpy(img, name), dtype=np.float32)
        self._check_output(out_np.shape, img.shape)
        if not np.isfinite(out_np).all():
            raise RuntimeError(f"{self.info.name}: produced NaN or infinite values")
        return np.clip(out_np, 0.0, 1.0)

    def _check_output(self, got: tuple[int, ...], want: tuple[int, ...]) -> None:
        if got != want:
            raise RuntimeError(f"{self.info.name}: output shape {got} differs from input {want}")
