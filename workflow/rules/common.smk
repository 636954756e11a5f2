# Config validation and the small helpers that turn config into file names.
import json
import shlex

from snakemake.utils import min_version, validate

min_version("9.0")


def _validate_config():
    """Fail before any job runs, naming the offending key."""
    try:
        validate(config, schema="../schemas/config.schema.yaml")
    except Exception as exc:  # WorkflowError with the jsonschema message and key path
        raise ValueError(f"invalid configuration: {exc}") from None


_validate_config()

RESULTS = config.get("results_dir", "results")
DATASETS = config["datasets"]


def shell_json(value):
    """A config section as one shell-quoted JSON argument (rules pass options, never code)."""
    return shlex.quote(json.dumps(value, sort_keys=True))


def dataset_path(name):
    return DATASETS[name]["path"]


def dataset_ready_marker(name):
    """A file that exists once the dataset is complete (generated sets write manifest.json last)."""
    entry = DATASETS[name]
    if entry.get("generate") == "demo":
        return f"{entry['path']}/manifest.json"
    return []


def dataset_summary(name):
    return f"{RESULTS}/{name}/dataset.json"


def report_outputs():
    return [f"{RESULTS}/report/index.html", f"{RESULTS}/report/report.md"]
