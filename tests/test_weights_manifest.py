"""One reader for the two weights manifests (lowlight_common.weights), strict about fields."""

from __future__ import annotations

import json

import pytest

from lowlight_common.weights import WeightsEntry, parse_manifest, read_manifest

ENTRY = {"repository": "r", "commit": "c", "path": "p", "url": "u", "sha256": "ab", "bytes": 3, "licence": "MIT"}


def _text(**entry: object) -> str:
    return json.dumps({"_comment": "x", "files": {"m/w.pth": entry}})


def test_both_packages_read_their_manifest_through_the_one_reader() -> None:
    from detectors.checkpoints import manifest as detector_manifest
    from enhancers.weights import manifest as method_manifest

    for entries in (method_manifest(), detector_manifest()):
        assert entries and all(type(e) is WeightsEntry and e.key == k for k, e in entries.items())
    assert method_manifest() is read_manifest("enhancers", require_sha256=True)
    assert all(e.sha256 for e in method_manifest().values())
    # detectors may lack a published checksum and then say where the others come from
    assert any(e.sha256 is None for e in detector_manifest().values())
    assert all(e.checksum_source for e in detector_manifest().values() if e.sha256)


def test_entries_are_parsed_strictly() -> None:
    entry = parse_manifest(_text(**ENTRY), "m.json")["m/w.pth"]
    assert entry.sha256 == "ab" and entry.checksum_source == ""
    with pytest.raises(ValueError, match=r"m\.json: entry 'm/w\.pth': unknown field\(s\) sha-256"):
        parse_manifest(_text(**{**ENTRY, "sha-256": "ab"}), "m.json")
    with pytest.raises(ValueError, match="entry 'm/w.pth': missing licence"):
        parse_manifest(_text(**{k: v for k, v in ENTRY.items() if k != "licence"}), "m.json")
    with pytest.raises(ValueError, match="sha256 is required"):
        parse_manifest(_text(**{**ENTRY, "sha256": None}), "m.json", require_sha256=True)
    assert parse_manifest(_text(**{**ENTRY, "sha256": None}), "m.json")["m/w.pth"].sha256 is None
