"""``WxH`` image sizes as written on command lines and in configs (``1080x720``)."""

from __future__ import annotations

import argparse
import re

__all__ = ["format_size", "parse_size", "size_argument"]

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


def size_argument(text: str) -> tuple[int, int]:
    """:func:`parse_size` as an argparse ``type=``: argparse shows an ``ArgumentTypeError``'s own
    message (exit 2), whereas a ``ValueError`` becomes a bare "invalid value"."""
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def format_size(width: int, height: int) -> str:
    return f"{width}x{height}"
