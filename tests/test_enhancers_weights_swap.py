"""A weights file replaced at the same path is another model (issue 32, items 2 and 14): the
resume journal's fingerprint and the manifest carry its sha256, so a shard killed with one model
is not finished with another; the journal's limits are documented."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from diffll.checkpoint import save_checkpoint
from enhancers.cli import main
from enhancers.folder import Journal, method_fingerprint
from enhancers.registry import create_method
from enhancers.weights import method_weight_files
from lldata.imageio import write_png
from tests.diffll_models import perturbed_small_model

README = Path(__file__).resolve().parents[1] / "README.md"


def _swap(checkpoint: Path, seed: int) -> None:
    """New weights at the same path, with the old time stamps (as `cp -p` or a restore gives)."""
    stats = {p: p.stat() for p in checkpoint.iterdir()}
    save_checkpoint(checkpoint, perturbed_small_model(seed))
    for path, st in stats.items():
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_the_journal_fingerprint_changes_when_the_weights_are_replaced(tmp_path):
    checkpoint = tmp_path / "ckpt"
    save_checkpoint(checkpoint, perturbed_small_model(0))
    before = method_fingerprint(create_method("diffll", device="cpu", checkpoint=str(checkpoint), steps=1))
    _swap(checkpoint, 1)
    after = method_fingerprint(create_method("diffll", device="cpu", checkpoint=str(checkpoint), steps=1))
    assert before != after
    assert [p.name for p in method_weight_files([str(checkpoint)])] == ["config.json", "model.safetensors"]


def test_a_shard_killed_with_one_model_is_redone_with_the_other(tmp_path, capsys):
    checkpoint = tmp_path / "ckpt"
    save_checkpoint(checkpoint, perturbed_small_model(0))
    write_png(tmp_path / "in" / "a.png", np.full((32, 32, 3), 40, np.uint8))
    args = ["--method", "diffll", "--device", "cpu", "--option", f"checkpoint={json.dumps(str(checkpoint))}",
            "--option", "steps=1", "--no-progress", "--manifest", str(tmp_path / "m.json"), "-o", str(tmp_path / "out"),
            str(tmp_path / "in")]
    assert main(args) == 0
    manifest = json.loads((tmp_path / "m.json").read_text())
    assert set(manifest["weights"]) == {str(checkpoint / "config.json"), str(checkpoint / "model.safetensors")}
    # as if the job had been killed after this image: its journal line, then a swap of the weights
    method = create_method("diffll", device="cpu", checkpoint=str(checkpoint), steps=1)
    journal = Journal(tmp_path / "m.json.journal", method_fingerprint(method))
    journal.record(tmp_path / "in" / "a.png", tmp_path / "out" / "a.png")
    (tmp_path / "m.json").unlink()
    _swap(checkpoint, 1)
    capsys.readouterr()
    assert main(args) == 0
    assert "kept from an interrupted run" not in capsys.readouterr().err


def test_the_readme_states_what_the_journal_does_not_guard_against():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Interrupted runs"):text.index("### Configuration")]
    assert "journal" in section and "edited" in section
