"""Config values that used to pass the schema and fail hours later, and configs whose error
message or validation cost grew with their size (issue 32, items 4 and 12)."""

from __future__ import annotations

import time

import pytest
import yaml

from lowlight_common.config_schema import validate_config

MINIMAL = {"datasets": {"demo": {"kind": "darkface", "path": "data/demo"}}}


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"evaluation": {"seed": -1}}, "evaluation.seed"),
        ({"evaluation": {"seed": 2**40}}, "evaluation.seed"),
        ({"evaluation": {"bootstrap": 5}}, "evaluation.bootstrap"),
        ({"demo": {"seed": -3}}, "demo.seed"),
        ({"benchmark": {"seed": -1}}, "benchmark.seed"),
        ({"results_dir": "-res"}, "results_dir"),
        ({"results_dir": ""}, "results_dir"),
        ({"weights_dir": "--help"}, "weights_dir"),
        ({"iqa": {"cache_dir": "-c"}}, "iqa.cache_dir"),
        ({"datasets": {"demo": {"kind": "darkface", "path": "-data"}}}, "datasets.demo.path"),
        ({"training": {"configs": ["-x.yaml"]}}, "training.configs.0"),
    ],
)
def test_values_that_fail_late_are_refused_by_the_schema(changes, key):
    with pytest.raises(ValueError, match=rf"invalid configuration: {key}: "):
        validate_config({**MINIMAL, **changes})


def test_a_yaml_alias_bomb_is_refused_quickly_with_a_short_message():
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):  # 9**9 (387 million) values once expanded
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    lines.append("datasets: {demo: {kind: darkface, path: data/demo}}")
    lines.append("demo: {seed: *a8}")
    config = yaml.safe_load("\n".join(lines))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="YAML aliases") as info:
        validate_config(config)
    assert time.perf_counter() - start < 1.0
    assert len(str(info.value)) < 300


def test_a_large_bad_value_is_named_by_its_key_path_without_being_quoted():
    config = {**MINIMAL, "demo": {"seed": list(range(50_000))}}
    with pytest.raises(ValueError) as info:
        validate_config(config)
    message = str(info.value)
    assert message.startswith("invalid configuration: demo.seed: ") and len(message) < 300
