"""Network and diffusion sizes of DiffLL in one JSON-able record.

Defaults are the authors' released configuration (``configs/LOLv1.yml`` of
JianghaiSCU/Diffusion-Low-Light); :meth:`DiffLLConfig.small` is the reduced network that produced
the golden vectors in ``../shared/reference/golden-small``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lowlight_common.records import dataclass_from_dict

__all__ = ["BETA_SCHEDULES", "DiffLLConfig"]

BETA_SCHEDULES = ("linear", "quad", "const", "jsd", "sigmoid")


# Upper bounds far above any trained DiffLL (the authors': ch 64, ch_mult (1, 2, 3, 4), 200
# timesteps), so a hostile or corrupt record is refused before the schedule or the network is
# allocated (``num_train_timesteps: 1e9`` is 8 GB of betas; ``ch: 4096`` a 300 GB network).
_UPPER = {
    "in_channels": 64, "out_channels": 64, "ch": 1024, "num_res_blocks": 16, "hfrm_width": 1024,
    "hfrm_heads": 64, "wavelet_levels": 8, "num_train_timesteps": 100_000, "pad_multiple": 65_536,
}
_MAX_CH_MULT = (8, 16)  # at most 8 levels, each at most 16 x ch


def _check_types(config: Any) -> None:
    """JSON records give any type: an int field must be an int (not a bool or 1e9), a float
    field a finite number, a str field a string, ``ch_mult`` a list of ints."""
    problems = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            problems.append(f"{field.name}={value!r} must be an integer")
        elif kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                problems.append(f"{field.name}={value!r} must be a finite number")
            else:
                setattr(config, field.name, float(value))
        elif kind == "str" and not isinstance(value, str):
            problems.append(f"{field.name}={value!r} must be a string")
        elif kind.startswith("tuple[int") and (
            not isinstance(value, list | tuple)
            or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
        ):
            problems.append(f"{field.name}={value!r} must be a list of integers")
    if problems:
        raise ValueError("invalid DiffLLConfig: " + "; ".join(problems))


def _out_of_bounds(config: Any) -> list[str]:
    problems = [
        f"{name}={getattr(config, name)} is above the limit {limit}"
        for name, limit in _UPPER.items()
        if getattr(config, name) > limit
    ]
    lower = ("in_channels", "out_channels", "hfrm_width", "hfrm_heads", "pad_multiple")
    problems += [f"{name}={getattr(config, name)} must be >= 1" for name in lower if getattr(config, name) < 1]
    if len(config.ch_mult) > _MAX_CH_MULT[0] or any(m > _MAX_CH_MULT[1] for m in config.ch_mult):
        problems.append(f"ch_mult={config.ch_mult}: at most {_MAX_CH_MULT[0]} levels of at most {_MAX_CH_MULT[1]}")
    for name in ("beta_start", "beta_end"):
        if not 0.0 < getattr(config, name) < 1.0:
            problems.append(f"{name}={getattr(config, name)} must be in (0, 1)")
    if not 0.0 <= config.dropout < 1.0:
        problems.append(f"dropout={config.dropout} must be in [0, 1)")
    return problems


@dataclass
class DiffLLConfig:
    """Everything needed to build the network and its sampler (no training hyper-parameters)."""

    in_channels: int = 3
    out_channels: int = 3
    ch: int = 64
    ch_mult: tuple[int, ...] = (1, 2, 3, 4)
    num_res_blocks: int = 2
    attn_level: int = 2
    dropout: float = 0.0
    hfrm_width: int = 64
    hfrm_heads: int = 8
    wavelet_levels: int = 2
    num_train_timesteps: int = 200
    beta_start: float = 1e-4
    beta_end: float = 0.02
    beta_schedule: str = "linear"
    sampling_steps: int = 10
    pad_multiple: int = 32

    def __post_init__(self) -> None:
        _check_types(self)
        self.ch_mult = tuple(int(m) for m in self.ch_mult)
        problems = _out_of_bounds(self)
        if self.ch <= 0 or self.ch % 32:
            problems.append(f"ch={self.ch} must be a positive multiple of 32 (GroupNorm(32))")
        if not self.ch_mult or any(m <= 0 for m in self.ch_mult):
            problems.append(f"ch_mult={self.ch_mult} must be non-empty and positive")
        if self.num_res_blocks < 1:
            problems.append(f"num_res_blocks={self.num_res_blocks} must be >= 1")
        if not 0 <= self.attn_level < len(self.ch_mult):
            problems.append(f"attn_level={self.attn_level} outside 0..{len(self.ch_mult) - 1}")
        if self.hfrm_heads >= 1 and self.hfrm_width % self.hfrm_heads:
            problems.append(f"hfrm_width={self.hfrm_width} not divisible by hfrm_heads")
        if self.wavelet_levels < 1:
            problems.append(f"wavelet_levels={self.wavelet_levels} must be >= 1")
        if self.beta_schedule not in BETA_SCHEDULES:
            problems.append(f"beta_schedule={self.beta_schedule!r} not in {BETA_SCHEDULES}")
        if not 1 <= self.sampling_steps <= self.num_train_timesteps:
            problems.append(
                f"sampling_steps={self.sampling_steps} must be in 1..{self.num_train_timesteps}"
            )
        if self.pad_multiple % self.min_multiple:
            problems.append(
                f"pad_multiple={self.pad_multiple} must be a multiple of {self.min_multiple} "
                f"({self.wavelet_levels} Haar levels x {len(self.ch_mult) - 1} UNet downsamples)"
            )
        if problems:
            raise ValueError("invalid DiffLLConfig: " + "; ".join(problems))

    @property
    def min_multiple(self) -> int:
        """Smallest side multiple the network accepts: 2^levels * 2^(UNet downsamples)."""
        return 2 ** (self.wavelet_levels + len(self.ch_mult) - 1)

    @property
    def temb_channels(self) -> int:
        return 4 * self.ch

    @classmethod
    def small(cls) -> DiffLLConfig:
        """The reduced network of ``golden-small/config.json`` (HFRMs unchanged)."""
        return cls(ch=32, ch_mult=(1, 2, 2, 2), num_res_blocks=1)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ch_mult"] = list(self.ch_mult)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DiffLLConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error so typos do not pass silently."""
        return dataclass_from_dict(cls, data, "DiffLLConfig key(s)")

    @classmethod
    def from_authors(cls, data: Mapping[str, Any]) -> DiffLLConfig:
        """Read the authors' nested YAML/Namespace layout (``model``, ``diffusion``, ...).

        Also accepts ``golden-small/config.json``. Keys that do not describe the network are
        ignored; missing ones keep the authors' defaults.
        """
        model = dict(data.get("model", {}) or {})
        diffusion = dict(data.get("diffusion", {}) or {})
        kwargs: dict[str, Any] = {}
        mapping = {
            "in_channels": (model, "in_channels"),
            "out_channels": (model, "out_ch"),
            "ch": (model, "ch"),
            "ch_mult": (model, "ch_mult"),
            "num_res_blocks": (model, "num_res_blocks"),
            "dropout": (model, "dropout"),
            "num_train_timesteps": (diffusion, "num_diffusion_timesteps"),
            "beta_start": (diffusion, "beta_start"),
            "beta_end": (diffusion, "beta_end"),
            "beta_schedule": (diffusion, "beta_schedule"),
            "sampling_steps": (data, "sampling_timesteps"),
            "wavelet_levels": (data, "wavelet_levels"),
            "pad_multiple": (data, "pad_multiple"),
        }
        for name, (source, key) in mapping.items():
            if key in source and source[key] is not None:
                kwargs[name] = source[key]
        return cls(**kwargs)
