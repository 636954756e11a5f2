"""The results folder's owner and lock (issue 32, item 1): a second run on one results folder,
from another working directory or at the same time, is refused naming the other run; a lock
left by a killed run is taken over; manifests record the run that wrote them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lldata.manifest import write_manifest
from lowlight_common.run_lock import (
    LOCK_FILE,
    OWNER_FILE,
    RUN_ENV,
    RunLockError,
    acquire,
    check_owner,
    release,
    run_info,
)


def test_a_second_live_run_is_refused_naming_it(tmp_path):
    first = run_info(tmp_path / "a", ["a.yaml"])
    assert acquire(tmp_path / "res", first) is None
    other = dict(first, pid=first["pid"] + 1, pid_start="other")  # as another process would see it
    held = json.loads((tmp_path / "res" / LOCK_FILE).read_text())
    held.update(pid=1, pid_start=None)  # process 1 is alive on every Linux machine
    (tmp_path / "res" / LOCK_FILE).write_text(json.dumps(held))
    with pytest.raises(RunLockError, match=r"being written by another run: process 1 on .*a\.yaml"):
        acquire(tmp_path / "res", other)


def test_a_lock_from_another_host_is_refused(tmp_path):
    run = run_info(tmp_path / "a")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / LOCK_FILE).write_text(json.dumps(dict(run, host="elsewhere", pid=12345)))
    with pytest.raises(RunLockError, match="another host"):
        acquire(tmp_path / "res", run)


def test_a_stale_lock_of_a_killed_run_is_taken_over_and_released(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = run_info(tmp_path / "a")
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / LOCK_FILE).write_text(json.dumps(dict(run, pid=dead.pid, pid_start="0")))
    note = acquire(tmp_path / "res", run)
    assert note is not None and "stale" in note and str(dead.pid) in note
    assert json.loads((tmp_path / "res" / LOCK_FILE).read_text())["pid"] == run["pid"]
    release(tmp_path / "res", run)
    assert not (tmp_path / "res" / LOCK_FILE).exists()


def test_the_folder_is_tied_to_the_first_working_directory(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run = run_info(tmp_path / "a")
    acquire(tmp_path / "res", run)
    release(tmp_path / "res", run)
    assert (tmp_path / "res" / OWNER_FILE).read_text().strip() == str((tmp_path / "a").resolve())
    check_owner(tmp_path / "res", tmp_path / "a")
    with pytest.raises(RunLockError, match=r"belongs to the workflow run from .*a.*delete .*\.lowlight-owner"):
        check_owner(tmp_path / "res", tmp_path / "b")
    with pytest.raises(RunLockError):
        acquire(tmp_path / "res", run_info(tmp_path / "b"))


def test_manifests_record_the_run(tmp_path, monkeypatch):
    (tmp_path / "x.txt").write_text("x")
    monkeypatch.setenv(RUN_ENV, json.dumps(run_info(tmp_path, ["c.yaml"])))
    write_manifest(tmp_path / "m.json", [tmp_path / "x.txt"], method="raw")
    run = json.loads((tmp_path / "m.json").read_text())["run"]
    assert run["workdir"] == str(tmp_path.resolve()) and run["configfiles"][0].endswith("c.yaml")


def test_run_records_the_workflow_and_the_resolved_results_folder(tmp_path, monkeypatch):
    """Issue 30: the working directory is the repository whatever folder Snakemake starts in
    (workflow/Snakefile's ``workdir:``), so the identity stays the working directory; the run
    also names the workflow folder and the results folder, resolved."""
    monkeypatch.chdir(tmp_path)
    run = run_info(tmp_path / "repo", workflow="repo/workflow/..", results="res")
    assert run["workflow"] == str((tmp_path / "repo").resolve()) and run["results"] == str((tmp_path / "res").resolve())
    acquire(tmp_path / "res", run)
    check_owner(tmp_path / "res", tmp_path / "repo" / ".")  # the same folder, spelt otherwise
    release(tmp_path / "res", run)
