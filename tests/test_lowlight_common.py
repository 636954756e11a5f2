"""The shared helpers (lowlight_common) and the package import graph (no cycles)."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT

from lowlight_common.devices import describe_device, resolve_device
from lowlight_common.files import sha256_file
from lowlight_common.records import dataclass_from_dict
from lowlight_common.sizes import format_size, parse_size

PACKAGES = ("lowlight_common", "lldata", "diffll", "detectors", "enhancers", "iqa", "efficiency", "reports")


def test_sha256_matches_hashlib_on_a_multi_block_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # > 1 MiB: read in blocks
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_sizes() -> None:
    assert parse_size("1080x720") == (1080, 720) and parse_size(" 64X48 ") == (64, 48)
    assert format_size(*parse_size("600x400")) == "600x400"
    for bad in ("1080", "1080x", "0x5", "axb", "-3x4"):
        with pytest.raises(ValueError, match="WIDTHxHEIGHT|positive"):
            parse_size(bad)


def test_size_argument_is_an_argparse_error_with_the_message(capsys) -> None:
    import argparse

    from lowlight_common.sizes import size_argument

    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--size", type=size_argument)
    assert parser.parse_args(["--size", "64x48"]).size == (64, 48)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--size", "64"])
    assert exit_info.value.code == 2 and "WIDTHxHEIGHT" in capsys.readouterr().err


@dataclass
class _Rec:
    a: int = 1
    pair: tuple[int, int] = (0, 0)
    tags: list[str] = field(default_factory=list)


def test_dataclass_from_dict_names_unknown_keys_and_converts() -> None:
    rec = dataclass_from_dict(_Rec, {"a": 2, "pair": [3, 4]}, "record key(s)", {"pair": tuple})
    assert rec == _Rec(2, (3, 4))
    assert dataclass_from_dict(_Rec, None, "record key(s)") == _Rec()
    with pytest.raises(ValueError, match=r"unknown record key\(s\): b, c; known: a, pair, tags"):
        dataclass_from_dict(_Rec, {"b": 1, "c": 2}, "record key(s)")


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert describe_device("cpu").startswith("CPU ") and "logical cores" in describe_device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


def _package_imports() -> dict[str, dict[str, str]]:
    """package -> imported package -> one place that imports it (function-local imports too)."""
    edges: dict[str, dict[str, str]] = {}
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in PACKAGES and top != package:
                        where = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"
                        edges.setdefault(package, {}).setdefault(top, where)
    return edges


def test_no_import_cycle_between_packages() -> None:
    edges = _package_imports()
    assert "lowlight_common" not in edges, f"the shared helpers import a project package: {edges.get('lowlight_common')}"

    def cycle_from(start: str, node: str, path: list[str]) -> list[str] | None:
        for nxt in edges.get(node, {}):
            if nxt == start:
                return [*path, nxt]
            if nxt not in path:
                found = cycle_from(start, nxt, [*path, nxt])
                if found:
                    return found
        return None

    for package in PACKAGES:
        cycle = cycle_from(package, package, [package])
        if cycle:
            places = [edges[a][b] for a, b in zip(cycle, cycle[1:], strict=False)]
            pytest.fail(f"import cycle {' -> '.join(cycle)} ({', '.join(places)})")


@pytest.mark.parametrize("module", ["lldata.cli", "diffll.cli", "detectors.cli", "enhancers.cli", "efficiency.cli", "reports.cli"])
def test_console_commands_print_their_version(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib

    from lowlight_common.cli import project_version

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip().endswith(project_version())
