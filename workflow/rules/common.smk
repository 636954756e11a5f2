# Config validation and the helpers that turn config into file names and command arguments.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


def _validate_config():
    """Fail before any job runs, naming the offending key path only: the message never quotes
    the whole config, and a YAML alias bomb is refused before anything walks it."""
    try:
        from lowlight_common.config_schema import validate_config
    except ImportError:  # packages not installed (lint only): Snakemake's own validation
        try:
            validate(config, schema="../schemas/config.schema.yaml")
        except Exception as exc:
            raise ValueError(f"invalid configuration: {str(exc)[:500]}") from None
    else:
        filled = validate_config(config)  # ValueError "invalid configuration: key.path: ..."
        config.clear()
        config.update(filled)
    _check_options("methods", "method", "enhancers.registry", "list_methods", "check_method_options")
    _check_options("detectors", "detector", "detectors.registry", "list_detectors", "check_detector_options")


def _check_options(section, name_key, module, lister, checker):
    """Every entry of a section names a registered class and gives only options its constructor
    takes, with values of the annotated types: a typo or `denoise: "no"` fails here, at `-n`,
    not inside a job hours later. Skipped when the packages are not installed (lint only)."""
    try:
        registry = __import__(module, fromlist=[lister, checker])
    except ImportError:
        return
    known = set(getattr(registry, lister)())
    for label, entry in (config.get(section) or {}).items():
        entry = dict(entry or {})
        name = entry.pop(name_key, label)
        if name not in known:
            raise ValueError(f"invalid configuration: {section}.{label}: unknown {name_key} {name!r}; known: {', '.join(sorted(known))}")
        try:
            getattr(registry, checker)(name, entry)
        except ValueError as exc:
            raise ValueError(f"invalid configuration: {section}.{label}: {exc}") from None


_validate_config()

# Defaults come from the schema (validate fills them): no fallback values below.
RESULTS = config["results_dir"]
DATASETS = config["datasets"]
METHODS = config["methods"]


def _claim_results():
    """The results folder is tied to this working directory (whose .snakemake records describe
    its outputs) and locked while jobs run (lowlight_common.run_lock): a second run on the same
    folder from anywhere else is refused, naming the other run. Manifests record the run (via
    the environment, which job processes inherit)."""
    try:
        from lowlight_common.run_lock import RUN_ENV, check_owner, run_info
    except ImportError:  # packages not installed (lint only)
        return None
    run = run_info(os.getcwd(), [str(f) for f in workflow.configfiles])
    os.environ.setdefault(RUN_ENV, json.dumps(run))
    check_owner(RESULTS, os.getcwd())
    return run


RUN = _claim_results()


onstart:
    if RUN is not None:
        from lowlight_common.run_lock import acquire

        _note = acquire(RESULTS, RUN)
        if _note:
            print(_note, file=sys.stderr)


onsuccess:
    if RUN is not None:
        from lowlight_common.run_lock import release

        release(RESULTS, RUN)


onerror:
    if RUN is not None:
        from lowlight_common.run_lock import release

        release(RESULTS, RUN)


def detector_entry(label, entry=None):
    """A detector's options, with the config's `weights_dir` for detectors that load released
    checkpoints (those whose options include `weights_dir`)."""
    entry = dict((config["detectors"].get(label) if entry is None else entry) or {})
    name = entry.get("detector", label)
    try:
        from detectors.registry import detector_info

        takes_weights = "weights_dir" in detector_info(name).default_options
    except Exception:  # unknown name or packages not installed: the detect job reports it
        takes_weights = False
    if takes_weights and config.get("weights_dir"):
        entry.setdefault("weights_dir", config["weights_dir"])
    return entry


def _detector_skips():
    """Detectors that cannot run here (their released checkpoint is absent) -> the reason, with
    the download address. They are skipped, not failed, and the report names them; a file that
    is present but wrong still fails its detect job (the checksum is checked there)."""
    try:
        from detectors.registry import unavailable_reason
    except ImportError:
        return {}
    skipped = {}
    for label, entry in config["detectors"].items():
        options = detector_entry(label, entry)
        name = options.pop("detector", label)
        reason = unavailable_reason(name, **options)
        if reason:
            skipped[label] = reason
            print(f"skipping detector {label}: {reason}", file=sys.stderr)
    return skipped


def detector_uses_gpu(label):
    """Torch-based detectors (all but the ONNX `retinaface`, whose class decides CUDA itself) use
    the GPU when the device allows it (resources: gpu=1), like the learned enhancers."""
    if DEVICE == "cpu":
        return 0
    try:
        from detectors.base import Detector
        from detectors.registry import _load_class

        cls = _load_class((DETECTORS[label] or {}).get("detector", label))
        return int(cls.cuda_available.__func__ is Detector.cuda_available.__func__)
    except Exception:
        return 0


SKIPPED_DETECTORS = _detector_skips()
DETECTORS = {k: v for k, v in config["detectors"].items() if k not in SKIPPED_DETECTORS}
EVALUATION = config["evaluation"]
IQA = config["iqa"]
BENCHMARK = config["benchmark"]
DEVICE = config["device"]
BATCH_SIZE = str(config["enhance"]["batch_size"])

NAME = "[A-Za-z0-9_-]+"


wildcard_constraints:
    dataset=NAME,
    method=NAME,
    detector=NAME,
    shard=r"\d+",


def shell_json(value):
    """A config section as one shell-quoted JSON argument (rules pass data, never code).
    Key order is the config's own, so tables and panels list methods as the user wrote them."""
    return shlex.quote(json.dumps(value))


def option_args(entry, skip=("method",)):
    """`--option key=<JSON>` arguments for a method or detector entry of the config: the CLIs
    read a JSON value exactly (lowlight_common.options), so dicts, lists and null arrive as such."""
    entry = entry or {}
    return " ".join(
        f"--option {shlex.quote(f'{key}={json.dumps(value)}')}" for key, value in sorted(entry.items()) if key not in skip
    )


def method_name(label):
    return (METHODS[label] or {}).get("method", label)


def uses_gpu(label):
    """Learned and diffusion methods use the GPU when the device allows it (resources: gpu=1)."""
    if DEVICE == "cpu":
        return 0
    try:
        from enhancers.registry import method_info

        return int(method_info(method_name(label)).family in ("learned", "diffusion"))
    except Exception:
        return 0


_DIGESTS = {}


def _sha256(path):
    """sha256 of a weights file, once per (path, size, mtime) in this process."""
    stat = os.stat(path)
    key = (path, stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        from lowlight_common.files import sha256_file

        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


def method_weights(label):
    """The weights files method `label` reads (enhancers.weights.method_weight_files). They are
    inputs of its enhance jobs (when present) and their sha256 is in the params, so replacing a
    file at the same path, even with its old time stamp, reruns the jobs that used the old one."""
    try:
        from enhancers.registry import method_info
        from enhancers.weights import method_weight_files
    except ImportError:
        return []
    options = {k: v for k, v in (METHODS[label] or {}).items() if k != "method"}
    info = method_info(method_name(label), **options)
    return [str(p) for p in method_weight_files(info.weights_files, config.get("weights_dir"))]


def detector_weights(label):
    """The checkpoint files detector `label` reads (as method_weights, for detect jobs)."""
    try:
        from detectors.checkpoints import files_named_in
        from detectors.registry import detector_info
    except ImportError:
        return []
    options = detector_entry(label)
    name = options.pop("detector", label)
    return [str(p) for p in files_named_in(detector_info(name).weights, options.get("weights_dir"))]


def present(paths):
    return [p for p in paths if os.path.isfile(p)]


def digests(paths):
    """{path: sha256} for a job's params ("absent" for a file that is not there)."""
    return {p: _sha256(p) if os.path.isfile(p) else "absent" for p in paths}


def dataset_path(name):
    return DATASETS[name]["path"]


def image_folder(name):
    """Where the low-light input images of a dataset are."""
    kind = DATASETS[name]["kind"]
    return {"darkface": f"{dataset_path(name)}/image", "paired": f"{dataset_path(name)}/low"}.get(kind, dataset_path(name))


def dataset_ready_marker(name):
    """A file that exists once the dataset is complete (generated sets write manifest.json last)."""
    entry = DATASETS[name]
    if entry.get("generate") == "demo":
        return f"{entry['path']}/manifest.json"
    if entry.get("generate") == "sice_pairs":
        return f"{entry['path']}/pairs.json"
    return []


def dataset_files(wc):
    """Inputs of a dataset's validation. A generated set is owned by its rule: the file it
    writes last. A user's own set: every image and label file validation reads, so that an
    edited label, or an added or removed image, reruns validation and everything scored on it
    (Snakemake reruns on newer inputs and on a changed set of inputs)."""
    entry = DATASETS[wc.dataset]
    if entry.get("generate"):
        return dataset_ready_marker(wc.dataset)
    from lldata.datasets import input_files

    return [str(p) for p in input_files(entry["path"], entry["kind"])]


def all_cores():
    """Threads for a job that should have the machine to itself: every core given with
    --cores. Commands that run no job (--unlock, a dry run without --cores) give none; then 1."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


def shards(name):
    return range(int(DATASETS[name]["shards"]))


def dataset_summary(name):
    return f"{RESULTS}/{name}/dataset.json"


def detection_datasets():
    return [d for d, entry in DATASETS.items() if entry["kind"] == "darkface"]


def enhanced_dir(wc):
    return f"{RESULTS}/{wc.dataset}/{wc.method}/images"


def predictions_dir(dataset, method, detector):
    return f"{RESULTS}/{dataset}/{method}/{detector}/predictions"


EVAL_FILES = ("ap.json", "pr_curve.csv", "per_image.csv", "size_recall.csv")


def eval_outputs(dataset, method, detector):
    """Every file of one evaluation (the `evaluate` rule's outputs). The report reads the PR
    curves and recall per size besides ap.json, so all of them are its inputs."""
    return [f"{RESULTS}/{dataset}/{method}/{detector}/eval/{name}" for name in EVAL_FILES]


def all_enhance_manifests(wc):
    return [f"{RESULTS}/{wc.dataset}/{wc.method}/shards/{s}.enhance.json" for s in shards(wc.dataset)]


def all_detect_manifests(wc):
    return [f"{RESULTS}/{wc.dataset}/{wc.method}/{wc.detector}/shards/{s}.detect.json" for s in shards(wc.dataset)]


def all_results():
    """Every per-(dataset, method, detector) result the report reads."""
    out = [dataset_summary(d) for d in DATASETS]
    for d in DATASETS:
        out += [f"{RESULTS}/{d}/{m}/iqa/summary.json" for m in METHODS]
    for d in detection_datasets():
        for m in METHODS:
            for det in DETECTORS:
                out += eval_outputs(d, m, det)
                if m != "raw" and "raw" in METHODS:
                    out.append(f"{RESULTS}/{d}/{m}/{det}/eval/vs_raw.json")
    if BENCHMARK["enabled"]:
        out.append(f"{RESULTS}/benchmark/{benchmark_device()}.csv")
    return out


def benchmark_options():
    """Per benchmarked label: its registry method, options and weights folder."""
    out = {}
    for label in BENCHMARK["methods"] or list(METHODS):
        entry = dict(METHODS.get(label) or {})
        entry.setdefault("method", label)
        if config.get("weights_dir"):
            entry.setdefault("weights_dir", config["weights_dir"])
        out[label] = entry
    return out


def benchmark_device():
    if DEVICE != "auto":
        return DEVICE
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def iqa_cache():
    """TORCH_HOME for pyiqa's files: the configured cache, or a folder under results for NIQE."""
    if IQA["cache_dir"]:
        return IQA["cache_dir"]
    return f"{RESULTS}/torch-cache" if IQA["niqe_params"] else None


def niqe_file(wc):
    if IQA["niqe_params"] and "niqe" in IQA["metrics"]:
        return f"{iqa_cache()}/hub/pyiqa/niqe_modelparameters.mat"
    return []


def report_outputs():
    return [f"{RESULTS}/report/index.html", f"{RESULTS}/report/report.md"]
