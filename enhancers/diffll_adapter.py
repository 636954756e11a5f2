"""DiffLL behind the common interface: a thin wrapper around ``diffll.load``.

``diffll`` is imported only when the method is created, so listing or running the other methods
never pays for it. The start noise of each image comes from a seed derived from the run seed and
the image's file name with the same rule as the ``diffll`` command line
(:func:`diffll.cli.image_seed`), so ``enhance --method diffll`` and ``diffll enhance`` write the
same bytes for the same seed, whatever the processing order.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from enhancers.base import Method, MethodInfo, numpy_to_float, resolve_device

CHECKPOINT_ENV = "DIFFLL_CHECKPOINT"
logger = logging.getLogger(__name__)


class DiffLLMethod(Method):
    """The project's DiffLL (:mod:`diffll`) as a method of the registry.

    Options: ``checkpoint`` (else env ``DIFFLL_CHECKPOINT``, else the project's shipped model
    ``models/diffll-sice``, see :mod:`diffll.shipped`), ``steps`` (DDIM steps, default
    the checkpoint's), ``seed``, ``precision`` (fp32 | bf16), ``tile`` (None | int | "auto") and ``tile_mode``
    (strips | blend, see :meth:`diffll.inference.Enhancer.choose_tile`) and ``compile``
    (``torch.compile`` the networks: minutes of compilation on first use, for long runs) and
    ``fused`` (CPU bf16 only: the kernels of :mod:`diffll.fused`; False keeps the earlier bf16
    operation order, whose bytes differ; no effect in fp32 or on CUDA).
    """

    name = "diffll"
    family = "diffusion"
    needs_gpu = True
    parameters = None
    paper = "Jiang et al., Low-Light Image Enhancement with Wavelet-based Diffusion Models, SIGGRAPH Asia 2023"
    description = (
        "Wavelet-domain conditional diffusion (DDIM) with high-frequency restoration; "
        "deterministic given the seed (per-image seed from seed + file name)."
    )


    def __init__(
        self,
        device: str | torch.device = "auto",
        weights_dir: str | os.PathLike[str] | None = None,
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        steps: int | None = None,
        seed: int = 0,
        precision: str = "fp32",
        tile: int | str | None = "auto",
        tile_mode: str = "strips",
        compile: bool = False,
        fused: bool = True,
    ) -> None:
        from diffll.shipped import resolve_checkpoint

        resolved = resolve_checkpoint(checkpoint)
        path = resolved.path
        if not path.exists():
            raise FileNotFoundError(
                f"diffll: checkpoint {path} not found (a checkpoint folder or .safetensors file)"
            )
        logger.info(resolved.describe())
        try:
            import diffll
        except ImportError as exc:  # pragma: no cover - diffll ships with this project
            raise ImportError(f"diffll: the diffll package cannot be imported ({exc})") from exc
        dev = resolve_device(device)
        self.model = diffll.load(
            path, device=dev, precision=precision, tile=tile, steps=steps, tile_mode=tile_mode,
            compile=compile, fused=fused,
        )
        self.seed = int(seed)
        params = sum(p.numel() for p in self.model.model.parameters())
        self.checkpoint = resolved
        info = self.describe(
            checkpoint=str(path),
            steps=self.model.steps,
            seed=seed,
            precision=self.model.precision,
            tile=tile,
            tile_mode=tile_mode,
            compile=compile,
            fused=fused,
            parameters=params,
        )
        super().__init__(info, dev)

    @classmethod
    def describe(cls, parameters: int | None = None, **options: Any) -> MethodInfo:
        """``parameters`` is counted by the caller that built the network (the config decides it);
        the checkpoint shown is the path given, else where it will be looked for."""
        info = super().describe(**options)
        checkpoint = info.options["checkpoint"]
        shown = str(checkpoint) if checkpoint else f"${CHECKPOINT_ENV} or models/diffll-sice"
        opts = {
            **info.options,
            "checkpoint": shown,
            "seed": int(info.options["seed"]),
            "compile": bool(info.options["compile"]),
            "fused": bool(info.options["fused"]),
        }
        # The files it will read, found as resolve_checkpoint finds them (the shipped model from
        # the package, never from the current folder): the workflow makes them job inputs.
        from diffll.shipped import SHIPPED_MODEL_DIR

        files = (str(checkpoint or os.environ.get(CHECKPOINT_ENV) or SHIPPED_MODEL_DIR),)
        return replace(info, parameters=parameters, weights_files=files, options=opts)

    def _enhance_batch(self, batch: torch.Tensor, name: str | None) -> torch.Tensor:
        if self._generator is not None:
            return self.model.enhance(batch, generator=self._generator)
        if name is None:
            seeds = [self.seed] * batch.shape[0]
        else:
            from diffll.cli import image_seed

            seeds = [image_seed(self.seed, name)] * batch.shape[0]
        return self.model.enhance(batch, seeds=seeds)

    # ---- batches: images of one padded size share a forward ----------------------------------

    def batch_key(self, height: int, width: int) -> tuple[int, int]:
        return self.model.batch_key(height, width)

    def max_batch(self, height: int, width: int, requested: int | str = "auto") -> int:
        return self.model.max_batch(height, width, requested)

    def enhance_many(
        self, images: list[np.ndarray], names: list[str | None]
    ) -> list[np.ndarray]:
        """One forward for the batch; each image's seed comes from its own name, so its bytes
        are those it gets alone (:meth:`diffll.inference.Enhancer.enhance_images`)."""
        from diffll.cli import image_seed

        if len(images) == 1:
            return [self.enhance(images[0], name=names[0])]
        tensors = [
            torch.from_numpy(np.ascontiguousarray(numpy_to_float(im).transpose(2, 0, 1)))
            for im in images
        ]
        seeds = [self.seed if n is None else image_seed(self.seed, n) for n in names]
        outs = self.model.enhance_images(tensors, seeds)
        results = []
        for out, image in zip(outs, tensors, strict=True):
            arr = out.detach().to("cpu", torch.float32).numpy().transpose(1, 2, 0)
            self._check_output(arr.shape, tuple(image.shape[1:]) + (3,))
            if not np.isfinite(arr).all():
                raise RuntimeError(f"{self.info.name}: produced NaN or infinite values")
            results.append(np.clip(arr, 0.0, 1.0))
        return results
