"""One results layout (lowlight_common.layout) for the rules and the report (issue 29 item 5)."""

from __future__ import annotations

import re
from pathlib import Path

from lowlight_common.layout import EVAL_FILES, ResultsLayout

ROOT = Path(__file__).resolve().parents[1]


def test_paths_keep_the_exact_text_snakemake_matches_and_accept_wildcards():
    layout = ResultsLayout("./res dir")
    assert layout.dataset_json("{dataset}") == "./res dir/{dataset}/dataset.json"
    assert layout.enhance_manifest("d", "m", 3) == "./res dir/d/m/shards/3.enhance.json"
    assert layout.detect_manifest("d", "m", "x", "{shard}") == "./res dir/d/m/x/shards/{shard}.detect.json"
    assert layout.eval_file("d", "m", "x", "ap.json") == "./res dir/d/m/x/eval/ap.json"
    assert layout.iqa_summary("d", "m") == "./res dir/d/m/iqa/summary.json"
    assert "ap.json" in EVAL_FILES and "per_image.csv" in EVAL_FILES


# path pieces of the layout that no rule or report module may join itself: a Path join with one of
# the layout's folder names, or one of its file names as a string of its own
SPELLED = re.compile(r'/ *"(iqa|eval|predictions|shards|images)"|"(iqa|eval|predictions|shards|images)" */'
                     r'|/(iqa|eval|predictions|shards)/|"(summary|dataset)\.json"|\.(enhance|detect)\.json"')


def test_no_rule_or_report_module_spells_a_result_path_itself():
    places = [*sorted((ROOT / "workflow" / "rules").glob("*.smk")), *sorted((ROOT / "reports").glob("*.py"))]
    offenders = []
    for path in places:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if '"""' in line or "``" in line or line.lstrip().startswith(("#", "-", "*")):
                continue  # prose: docstrings and comments
            if '"logs/' in line or '"benchmarks/' in line:
                continue  # a job's log and benchmark files are not results
            if SPELLED.search(code) and "LAYOUT." not in code and "layout." not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
