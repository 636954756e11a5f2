"""``WxH`` image sizes as written on command lines and in configs (``1080x720``)."""

from __future__ import annotations

import re

__all__ = ["format_size", "parse_size"]

_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


def parse_size(text: str) -> tuple[int, int]:
    """``"1080x720"`` -> ``(1080, 720)`` (width, height); both must be positive."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"expected a size WIDTHxHEIGHT such as 1080x720, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise ValueError(f"size {text!r}: width and height must be positive")
    return width, height


def format_size(width: int, height: int) -> str:
    return f"{width}x{height}"
