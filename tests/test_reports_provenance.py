"""Provenance in shard manifests and in the report (issue 30, item 3): options as run, weights
with sha256, device, git state, package versions, seeds and the full config; results of one
label made with different options are refused, not pooled."""

from __future__ import annotations

import json
import subprocess

import pytest

from lldata.manifest import write_manifest
from lowlight_common.provenance import git_state
from lowlight_common.run_lock import RUN_ENV, run_info
from reports.provenance import MixedResultsError, label_provenance, provenance, seeds
from reports.provenance_section import provenance_section


def _shard(tmp_path, dataset, label, shard, monkeypatch, **info):
    image = tmp_path / dataset / label / "images" / f"{shard}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    image.write_bytes(b"png" + bytes([shard]))
    run = run_info(tmp_path, ["c.yaml"], workflow=tmp_path, results=tmp_path)
    run["git"] = {"commit": "abc123", "dirty": True}
    monkeypatch.setenv(RUN_ENV, json.dumps(run))
    path = tmp_path / dataset / label / "shards" / f"{shard}.enhance.json"
    write_manifest(path, [image], method="diffll", device="cpu", **info)
    return path


def test_manifest_records_what_ran_and_the_report_shows_it(tmp_path, monkeypatch):
    weights = {"/w/diffll-sice/model.safetensors": "9b5e"}
    as_run = {"steps": 10, "precision": "bf16", "seed": 0}
    for shard in (0, 1):
        path = _shard(tmp_path, "d", "dl", shard, monkeypatch, options={"steps": 10}, options_as_run=as_run, weights=weights)
    manifest = json.loads(path.read_text())
    assert manifest["run"]["git"] == {"commit": "abc123", "dirty": True} and manifest["run"]["results"] == str(tmp_path)
    assert manifest["environment"]["packages"]["numpy"] != "not installed"
    facts = label_provenance(tmp_path, "enhance", ["dl"], ["d"])["dl"]
    assert facts["options"] == as_run and facts["weights_sha256"] == {"diffll-sice/model.safetensors": "9b5e"}
    assert facts["device"] == ["cpu"] and facts["shards"] == 2 and facts["git"] == [{"commit": "abc123", "dirty": True}]

    config = {"device": "cpu", "datasets": {"d": {}}, "methods": {"dl": {"method": "diffll", "seed": 0}}, "detectors": {},
              "evaluation": {"seed": 3}, "demo": {"seed": 7}, "skipped_methods": {"zdce": "weights not found: /w/x.pth"}}
    prov = provenance(config, tmp_path)
    made = provenance_section(prov, config)
    html, md = made.html, made.markdown
    text = "\n".join(md)
    assert '"precision": "bf16"' in text and "diffll-sice/model.safetensors 9b5e" in text
    assert "abc123 dirty" in text and "evaluation.seed=3" in text and "methods.dl.seed=0" in text and "demo.seed=7" in text
    assert "skipped method zdce" in text and "weights not found" in text
    assert "<details><summary>Full config</summary>" in html and "<details><summary>Full config</summary>" in text


def test_results_of_one_label_made_with_different_options_are_refused(tmp_path, monkeypatch):
    _shard(tmp_path, "d", "dl", 0, monkeypatch, options_as_run={"steps": 10}, weights={})
    _shard(tmp_path, "d", "dl", 1, monkeypatch, options_as_run={"steps": 20}, weights={})
    with pytest.raises(MixedResultsError, match=r"method 'dl': results made with different options_as_run .*0\.enhance\.json.*1\.enhance\.json"):
        label_provenance(tmp_path, "enhance", ["dl"], ["d"])
    # a manifest from before options were recorded is "not recorded", not a conflict
    _shard(tmp_path, "e", "dl", 0, monkeypatch, options_as_run={"steps": 10}, weights={})
    _shard(tmp_path, "e", "dl", 1, monkeypatch, weights={})
    assert label_provenance(tmp_path, "enhance", ["dl"], ["e"])["dl"]["shards_without_record"] == 1


def test_reports_build_refuses_mixed_results_with_exit_2(tmp_path, monkeypatch):
    from reports.cli import main

    _shard(tmp_path, "d", "raw", 0, monkeypatch, options_as_run={}, weights={})
    _shard(tmp_path, "d", "raw", 1, monkeypatch, options_as_run={}, weights={"/w/a/b.pt": "1"})
    config = {"datasets": {"d": {"kind": "unpaired", "path": str(tmp_path)}}, "methods": {"raw": {}}, "detectors": {}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    code = main(["build", "--config-file", str(tmp_path / "config.json"), "--results-dir", str(tmp_path), "-o", str(tmp_path / "r")])
    assert code == 2 and not (tmp_path / "r" / "index.html").exists()


def test_git_state_and_seeds(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("a")
    env = ["-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run(["git", *env, "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", *env, "-C", str(tmp_path), "commit", "-qm", "x"], check=True)
    state = git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (tmp_path / "f").write_text("b")
    assert git_state(tmp_path)["dirty"] is True
    assert seeds({"benchmark": {"seed": 1}, "detectors": {"x": {"seed": 2}}}) == {"benchmark.seed": 1, "detectors.x.seed": 2}
