"""The README's layout section ("What runs where") matches the tree: every folder it names at
the top level exists, and every package and tracked top-level folder is named in it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What runs where", 1)[1]
    return section.split("```", 2)[1]


def _named_entries(block: str) -> list[str]:
    """First word of each entry line (two-space-indented packages, unindented folders)."""
    names = []
    for line in block.splitlines():
        m = re.match(r"^(?:  )?([A-Za-z_.][\w./-]*)\s{2,}", line)
        if m:
            names.append(m.group(1))
    return names


def test_every_entry_exists() -> None:
    missing = [n for n in _named_entries(_layout_block()) if not (ROOT / n.rstrip("/")).exists()]
    assert not missing, f"README layout names paths that do not exist: {missing}"


def test_every_package_is_listed() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in patterns}
    named = {n.rstrip("/") for n in _named_entries(_layout_block())}
    assert packages - named == set(), f"packages missing from the README layout: {sorted(packages - named)}"


def test_every_top_level_folder_is_listed() -> None:
    block = _layout_block()
    named = {n.rstrip("/").split("/")[0] for n in _named_entries(block)}
    gitignored = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}
    folders = [
        p.name for p in ROOT.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
        and p.name not in gitignored and not p.name.endswith(".egg-info")
    ]
    missing = sorted(set(folders) - named)
    assert not missing, f"top-level folders missing from the README layout: {missing}"


def test_new_parts_are_named() -> None:
    block = _layout_block()
    for sub in ("diffll/training", "lowlight_common", "workflow/Snakefile", "models", "docs/results"):
        assert (ROOT / sub).exists(), sub
    assert "training/" in block and "Snakefile (includes workflow/Snakefile)" in block
    assert "profiles -> workflow/profiles" in block and (ROOT / "profiles").is_symlink()
