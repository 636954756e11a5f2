"""config/README.md documents every config file and every schema key, so that a key added to
the schema or a new config file without its documentation fails here, not in a user's hands."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "config" / "README.md"
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def _sections(text: str) -> dict[str, str]:
    """Top-level key -> the text of its '### `key`' section."""
    parts = re.split(r"^### `([^`]+)`\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}


def _nested_names(node: dict) -> set[str]:
    """Every property name below a schema node: its own properties and those of its
    `<name>` entries (additionalProperties), recursively."""
    names: set[str] = set()
    children = dict(node.get("properties") or {})
    entry = node.get("additionalProperties")
    for name, sub in children.items():
        names.add(name)
        names |= _nested_names(sub)
    if isinstance(entry, dict):
        names |= _nested_names(entry)
    return names


def test_every_top_level_schema_key_has_a_section() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    sections = _sections(README.read_text())
    assert set(schema["properties"]) == set(sections), "config/README.md sections differ from the schema's top-level keys"


def test_every_nested_schema_key_is_named_in_its_section() -> None:
    schema = yaml.safe_load(SCHEMA.read_text())
    sections = _sections(README.read_text())
    missing = []
    for key, node in schema["properties"].items():
        for name in sorted(_nested_names(node)):
            if f"`{name}`" not in sections.get(key, ""):
                missing.append(f"{key}.{name}")
    assert not missing, f"schema keys not documented in config/README.md: {missing}"


def test_every_config_file_is_listed() -> None:
    text = README.read_text()
    files = sorted(p.relative_to(ROOT / "config").as_posix() for p in (ROOT / "config").rglob("*.yaml"))
    assert files, "no config files found"
    missing = [f for f in files if f"`{f}`" not in text]
    assert not missing, f"config files not described in config/README.md: {missing}"
