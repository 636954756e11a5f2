"""The one registry helper: lazy "module:attr" entries, one error type, and --help that imports
no torch (``enhance --help`` took 8 s when every method was imported eagerly)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from lowlight_common.registry import Registry, UnknownNameError


def test_entries_load_on_first_use_and_unknown_names_list_the_known() -> None:
    reg: Registry[object] = Registry("thing", {"path": "os.path:join", "obj": 3})
    assert reg.names() == ["path", "obj"] and "path" in reg and len(reg) == 2
    assert reg.spec("path") == "os.path:join"
    import os.path

    assert reg["path"] is os.path.join and reg["obj"] == 3
    with pytest.raises(UnknownNameError, match="unknown thing 'nope'; known: path, obj") as info:
        reg["nope"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value) == "unknown thing 'nope'; known: path, obj"  # no KeyError quotes
    with pytest.raises(ValueError, match="already registered"):
        reg.register("obj", 4)
    reg.register("obj", 4, overwrite=True)
    assert reg["obj"] == 4
    reg.unregister("obj")
    assert "obj" not in reg


def test_a_bad_entry_is_named() -> None:
    reg: Registry[object] = Registry("thing", {"a": "os.path:no_such", "b": "no-colon"})
    with pytest.raises(ImportError, match="os.path:no_such"):
        reg["a"]
    with pytest.raises(ValueError, match="expected 'module:attribute'"):
        reg["b"]
    checked: Registry[object] = Registry("thing", {"x": 1}, check=lambda n, v: (_ for _ in ()).throw(TypeError(n)))
    with pytest.raises(TypeError, match="x"):
        checked["x"]


def test_every_registry_raises_the_same_error() -> None:
    from detectors.registry import create_detector
    from enhancers.registry import create_method
    from iqa.registry import create_metric

    for call in (lambda: create_method("nope"), lambda: create_detector("nope"), lambda: create_metric("nope")):
        with pytest.raises(UnknownNameError, match="unknown (method|detector|metric) 'nope'; known: "):
            call()


@pytest.mark.parametrize("module", ["enhancers.cli", "detectors.cli", "iqa.cli"])
def test_help_imports_no_torch(module: str) -> None:
    code = (
        "import sys\n"
        f"from {module} import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'onnxruntime', 'pyiqa', 'cv2') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert "HEAVY []" in proc.stderr, proc.stderr[-2000:]


def test_plugin_file_names_the_module_a_plugin_comes_from(tmp_path, monkeypatch):
    """The workflow makes this file an input of the jobs that use the plug-in (an edit reruns them)."""
    from lowlight_common.registry import plugin_file

    (tmp_path / "plugfile_probe.py").write_text("X = 1\n")
    monkeypatch.chdir(tmp_path)
    assert plugin_file("plugfile_probe:X") == str(tmp_path / "plugfile_probe.py")
    assert plugin_file("raw") is None  # a registered name
    assert plugin_file("no_such_module_here:X") is None  # load_plugin names the problem
