"""One KEY=VALUE grammar for every command and the workflow, and options checked against the
constructor's annotations before anything runs (issue 17: the option bug; issue 18 item 9)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import REPO_ROOT

from detectors import cli as detectors_cli
from detectors.registry import check_detector_options, list_detectors
from enhancers import cli as enhance_cli
from enhancers import registry
from enhancers.base import Method, MethodInfo, resolve_device
from enhancers.registry import check_method_options, list_methods, method_options
from lldata.imageio import write_png
from lowlight_common.options import OptionError, format_option, parse_option, parse_options


class Recorder(Method):
    """Identity method that keeps the options it was built with."""

    seen: list[dict[str, Any]] = []

    def __init__(
        self,
        device: str = "auto",
        weights_dir: str | None = None,
        *,
        mapping: dict[str, Any] | None = None,
        values: list[Any] | None = None,
        flag: bool = False,
    ) -> None:
        Recorder.seen.append({"mapping": mapping, "values": values, "flag": flag})
        super().__init__(self.describe(), resolve_device(device))

    @classmethod
    def describe(cls, **_: Any) -> MethodInfo:
        return MethodInfo("recorder", "identity", False, True, 0)

    def _enhance_numpy(self, image: np.ndarray, name: str | None) -> np.ndarray:
        return image


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Path]:
    registry.register_method("recorder", Recorder)
    Recorder.seen.clear()
    (tmp_path / "in").mkdir()
    write_png(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.uint8))
    yield tmp_path
    registry.unregister_method("recorder")


def test_values_are_json_when_json_else_yaml() -> None:
    assert parse_options(['a={"x": true}', "b=[1, null]", "c=1e-05", "d=0.5", "e=null"]) == {
        "a": {"x": True}, "b": [1, None], "c": 1e-05, "d": 0.5, "e": None,
    }
    # YAML for what people type by hand; yes/no are booleans, never truthy strings
    assert parse_options(["s=[1,2]", "m={k: 3}", "p=models/x", "t=auto", "n=no", "y=yes"]) == {
        "s": [1, 2], "m": {"k": 3}, "p": "models/x", "t": "auto", "n": False, "y": True,
    }
    assert parse_option('k="no"') == ("k", "no")  # quoted: a string
    for bad in ("novalue", "=3", "k=[1, 2"):
        with pytest.raises(OptionError):
            parse_option(bad)


@pytest.mark.parametrize("value", [{"a": True, "b": [1, None]}, [1, None], 1e-5, "x y", None, False])
def test_what_the_workflow_writes_reads_back_exactly(value: Any) -> None:
    assert parse_option(format_option("k", value)) == ("k", value)


def test_dict_and_list_options_reach_the_method_as_dict_and_list(recorder: Path) -> None:
    args = ["-m", "recorder", "-o", str(recorder / "out"), "--no-progress", str(recorder / "in")]
    code = enhance_cli.main(["--option", 'mapping={"a": true}', "--option", "values=[1, null]", *args])
    assert code == 0
    assert Recorder.seen[-1] == {"mapping": {"a": True}, "values": [1, None], "flag": False}
    # the same through the workflow's writer (common.smk option_args: key=<JSON>, shell-quoted)
    opts = {"mapping": {"a": True, "n": None}, "values": [1, None], "flag": True}
    items = [shlex.split(f"x {shlex.quote(format_option(k, v))}")[1] for k, v in opts.items()]
    assert enhance_cli.main([a for item in items for a in ("--option", item)] + args) == 0
    assert Recorder.seen[-1] == opts


def test_wrong_types_fail_before_the_method_is_built(recorder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["-m", "recorder", "-o", str(recorder / "out"), "--no-progress", str(recorder / "in")]
    assert enhance_cli.main(["--option", 'flag="no"', *args]) == 2
    err = capsys.readouterr().err
    assert "recorder" in err and "'flag'" in err and "bool" in err and not Recorder.seen
    assert enhance_cli.main(["--option", "mapping=[1]", *args]) == 2
    assert "dict" in capsys.readouterr().err
    assert enhance_cli.main(["--option", "flag=no", *args]) == 0  # YAML's no: False
    assert Recorder.seen[-1]["flag"] is False


def test_lime_denoise_no_is_false_and_a_string_is_refused() -> None:
    assert parse_options(["denoise=no"]) == {"denoise": False}
    with pytest.raises(OptionError, match=r"lime: option 'denoise' expects bool, got 'no' \(str\)"):
        check_method_options("lime", {"denoise": "no"})
    with pytest.raises(OptionError, match="'strategy' expects int"):
        check_method_options("lime", {"strategy": 2.5})
    check_method_options("lime", {"alpha": 1})  # an int is a fine float


def test_every_registered_option_has_a_checkable_annotation() -> None:
    for name in list_methods():
        check_method_options(name, method_options(name))  # the defaults pass their own check
    for name in list_detectors():
        check_detector_options(name, {})


def test_detector_options_are_checked_and_the_cli_grammar_is_shared() -> None:
    with pytest.raises(OptionError, match="detector 'mtcnn': option 'keep_all' expects bool"):
        check_detector_options("mtcnn", {"keep_all": "no"})
    with pytest.raises(OptionError, match="'top_k' expects int, got 10.5"):
        check_detector_options("retinaface", {"top_k": 10.5})
    assert detectors_cli.parse_option('scales={"a": [1, null]}') == ("scales", {"a": [1, None]})


def _dry_run(tmp_path: Path, **changes: Any) -> subprocess.CompletedProcess:
    config = yaml.safe_load((REPO_ROOT / "tests" / "workflow" / "tiny.yaml").read_text())
    config.update(changes)
    tmp_path.mkdir(parents=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile"), "--directory",
           str(tmp_path), "--configfile", str(path), "--cores", "1", "-n", "--printshellcmds"]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)


@pytest.mark.slow
def test_workflow_dry_run_fails_on_a_bad_option_naming_method_option_and_type(tmp_path: Path) -> None:
    proc = _dry_run(tmp_path / "m", methods={"raw": {}, "soft": {"method": "lime", "denoise": "no"}})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "methods.soft" in out and "lime" in out and "'denoise' expects bool" in out
    proc = _dry_run(tmp_path / "d", detectors={"retinaface": {"top_k": "many"}})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "detectors.retinaface" in out and "'top_k' expects int" in out
    # a good list option: the shell command carries it as JSON, which enhance reads as a list
    proc = _dry_run(tmp_path / "ok", methods={"raw": {}, "msrcr": {"sigmas": [15, 80, 250]}})
    assert proc.returncode == 0, proc.stderr[-3000:]
    words = shlex.split(next(line for line in proc.stdout.splitlines() if "--method msrcr" in line))
    options = [words[i + 1] for i, w in enumerate(words) if w == "--option"]
    assert enhance_cli.parse_options(options) == {"sigmas": [15, 80, 250]}
