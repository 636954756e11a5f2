"""DiffLL (Jiang et al., SIGGRAPH Asia 2023): wavelet-based diffusion low-light enhancement.

A re-implementation that loads the authors' weights under their parameter names. Entry points:
``diffll.load(checkpoint)`` -> :class:`diffll.inference.Enhancer`, the ``diffll`` command line
(:mod:`diffll.cli`), and the building blocks (:class:`DiffLL`, :class:`DiffLLConfig`,
:func:`dwt`/:func:`idwt`, :class:`NoiseSchedule`, :class:`DDIMSampler`).
"""

from diffll.config import DiffLLConfig
from diffll.model import DiffLL
from diffll.sampler import DDIMSampler
from diffll.schedule import NoiseSchedule
from diffll.wavelet import dwt, dwt_multilevel, idwt, idwt_multilevel


def load(*args, **kwargs):
    """See :func:`diffll.inference.load` (imported lazily to keep ``import diffll`` light)."""
    from diffll.inference import load as _load

    return _load(*args, **kwargs)


__all__ = [
    "DDIMSampler",
    "DiffLL",
    "DiffLLConfig",
    "NoiseSchedule",
    "dwt",
    "dwt_multilevel",
    "idwt",
    "idwt_multilevel",
    "load",
]
