"""Bad inputs and reruns that used to go wrong quietly: file modes, decompression bombs, symlink
loops, paths that are files, empty inputs, duplicate imglab stems, and demo rebuilds in place."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from lldata.cli import main
from lldata.datasets import validate_dataset
from lldata.demo import DemoConfig, DemoFolderError, build_demo
from lldata.imageio import ImageReadError, image_size, read_rgb, write_png
from lowlight_common.atomic import atomic_write

TINY = DemoConfig(num_images=3, width=96, height=72, face_size=(12, 24), faces_per_image=(1, 2))


# ---- atomic_write: the mode a plain open() would give ------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_write_gives_new_files_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        with atomic_write(tmp_path / "a.txt") as handle:
            handle.write("x")
        write_png(tmp_path / "b.png", np.zeros((2, 2, 3), np.uint8))
        with open(tmp_path / "c.txt", "w") as handle:  # what a normal open() does
            handle.write("x")
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert (tmp_path / "c.txt").stat().st_mode & 0o777 == expected
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == expected
    assert (tmp_path / "b.png").stat().st_mode & 0o777 == expected


def test_atomic_write_keeps_the_mode_of_a_replaced_file(tmp_path):
    target = tmp_path / "shared.txt"
    target.write_text("old")
    target.chmod(0o640)
    with atomic_write(target) as handle:
        handle.write("new")
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o640


# ---- images and folders ------------------------------------------------------------------------


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height pixels (IHDR) with no pixel data: enough for Pillow's
    decompression-bomb check, which runs on the declared size at open time."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [20000, 12000])  # over 2x Pillow's limit (error) and over 1x (warning)
def test_decompression_bomb_is_an_image_read_error_naming_the_file(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, side, side)
    with pytest.raises(ImageReadError, match=r"bomb\.png.*decompression-bomb"):
        read_rgb(bomb)
    with pytest.raises(ImageReadError, match=r"bomb\.png.*decompression-bomb"):
        image_size(bomb)


def test_validate_reports_a_decompression_bomb_without_a_traceback(tmp_path, capsys, caplog):
    _png_header_only(tmp_path / "1.png", 20000, 20000)
    write_png(tmp_path / "2.png", np.zeros((4, 4, 3), np.uint8))
    assert main(["validate", str(tmp_path), "--kind", "unpaired"]) == 1
    err = capsys.readouterr().err + caplog.text  # the issue list is logged (stderr in a real run)
    assert "1.png" in err and "decompression-bomb" in err and "Traceback" not in err


def test_symlink_loop_is_reported_as_a_link_problem_not_as_a_missing_image(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "label").mkdir()
    os.symlink("3.png", tmp_path / "image" / "3.png")  # points at itself: a loop
    os.symlink("gone.png", tmp_path / "image" / "4.png")  # dangling
    (tmp_path / "label" / "3.txt").write_text("1\n0 0 2 2\n")
    (tmp_path / "label" / "4.txt").write_text("1\n0 0 2 2\n")
    issues = validate_dataset(tmp_path, "darkface").issues
    codes = {(i.code, i.path.name) for i in issues}
    assert ("image-link-broken", "3.png") in codes and ("image-link-broken", "4.png") in codes
    assert not any(i.code == "extra-label" for i in issues), [str(i) for i in issues]
    messages = {i.path.name: i.message for i in issues if i.code == "image-link-broken"}
    assert "loop" in messages["3.png"] and "gone.png" in messages["4.png"]


def test_dataset_path_that_is_a_file_says_so(tmp_path):
    path = tmp_path / "data.zip"
    path.write_bytes(b"PK")
    issues = validate_dataset(path, "darkface").issues
    assert [i.code for i in issues] == ["not-a-folder"]
    assert "not a folder" in issues[0].message and "does not exist" not in issues[0].message
    missing = validate_dataset(tmp_path / "nope", "darkface").issues
    assert [i.code for i in missing] == ["missing-folder"] and "does not exist" in missing[0].message


def test_darken_with_no_input_images_fails_clearly(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["darken", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) != 0
    assert "no image files" in capsys.readouterr().err


# ---- import-imglab: duplicate stems --------------------------------------------------------------


def test_import_imglab_refuses_two_images_with_one_stem(tmp_path, capsys):
    for sub in ("a", "b"):
        write_png(tmp_path / sub / "1.png", np.full((10, 10, 3), 50 if sub == "a" else 200, np.uint8))
    (tmp_path / "faces.xml").write_text(
        "<dataset><images>"
        "<image file='a/1.png'><box top='1' left='1' width='4' height='4'/></image>"
        "<image file='b/1.png'><box top='2' left='2' width='4' height='4'/></image>"
        "</images></dataset>"
    )
    out = tmp_path / "out"
    assert main(["import-imglab", str(tmp_path / "faces.xml"), "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "a/1.png" in err and "b/1.png" in err
    assert not (out / "image").exists()  # nothing half-imported


# ---- lldata demo into an existing folder --------------------------------------------------------


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_demo_rebuild_with_fewer_images_removes_its_stale_files(tmp_path):
    out = tmp_path / "demo"
    build_demo(out, DemoConfig(**{**TINY.__dict__, "num_images": 5}))
    build_demo(out, TINY)
    data = {f for f in _files(out) if not f.startswith(".")}
    manifest = json.loads((out / "manifest.json").read_text())
    assert data == set(manifest["sha256"]) | {"manifest.json"}
    assert not (out / "image" / "4.png").exists() and not (out / "label" / "5.txt").exists()
    assert len(validate_dataset(out, "darkface").items) == 3


def test_demo_rebuild_after_the_manifest_was_removed(tmp_path):
    """Snakemake deletes a job's output (manifest.json) before rerunning it; the folder stays the
    demo's, so a rebuild still works and still cleans up."""
    out = tmp_path / "demo"
    build_demo(out, DemoConfig(**{**TINY.__dict__, "num_images": 4}))
    (out / "manifest.json").unlink()
    build_demo(out, TINY)
    assert not (out / "image" / "4.png").exists() and (out / "manifest.json").is_file()


def test_demo_refuses_a_folder_with_files_it_did_not_write(tmp_path):
    out = tmp_path / "mine"
    write_png(out / "image" / "1.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DemoFolderError, match=r"image/1\.png"):
        build_demo(out, TINY)
    assert read_rgb(out / "image" / "1.png").shape == (4, 4, 3)  # untouched

    demo = tmp_path / "demo"
    build_demo(demo, TINY)
    (demo / "notes.md").write_text("my notes")
    (demo / "image" / "7.png").write_bytes(b"not the demo's")
    with pytest.raises(DemoFolderError, match=r"notes\.md") as info:
        build_demo(demo, TINY)
    assert "image/7.png" in str(info.value)
    assert (demo / "notes.md").read_text() == "my notes" and (demo / "image" / "7.png").is_file()


def test_demo_cli_reports_a_foreign_folder_as_an_error(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "thesis.tex").write_text("%")
    assert main(["demo", str(tmp_path / "x"), "--num-images", "1"]) != 0
    assert "thesis.tex" in capsys.readouterr().err


def test_input_files_are_what_validation_reads(tmp_path):
    """The workflow declares these as inputs of validation, so they must cover every file whose
    change changes the validated dataset, and leave out links validation reports as broken."""
    from lldata.datasets import input_files

    root = build_demo(tmp_path / "d", TINY)
    (root / "notes.md").write_text("not read by validation")
    os.symlink("nowhere.png", root / "image" / "9.png")
    names = [p.relative_to(root).as_posix() for p in input_files(root, "darkface")]
    assert sorted(names) == sorted(json.loads((root / "manifest.json").read_text())["sha256"])
    assert input_files(tmp_path / "missing", "darkface") == []
    assert [p.name for p in input_files(root / "image", "unpaired")] == ["1.png", "2.png", "3.png"]
