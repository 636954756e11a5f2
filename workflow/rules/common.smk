# Config validation and the helpers that turn config into file names and command arguments.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from lowlight_common.layout import EVAL_FILES, ResultsLayout

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
    _check_metrics()


def _check_metrics():
    """Every `iqa.metrics` entry names a metric of iqa/registry.py, the one list of metrics (the
    schema only says they are strings). Skipped when the packages are not installed (lint only)."""
    try:
        from iqa.registry import check_metric_names
    except ImportError:
        return
    try:
        check_metric_names(config["iqa"]["metrics"])
    except ValueError as exc:
        raise ValueError(f"invalid configuration: iqa.metrics: {exc}") from None


def _check_options(section, name_key, module, lister, checker):
    """Every entry of a section names a registered class and gives only options its constructor
    takes, with values of the annotated types: a typo or `denoise: "no"` fails here, at `-n`,
    not inside a job hours later. A `module:Class` plug-in (imported from the working directory
    or an installed package) is checked the same way. Skipped when the packages are not installed (lint only)."""
    try:
        registry = __import__(module, fromlist=[lister, checker])
    except ImportError:
        return
    known = set(getattr(registry, lister)())
    for label, entry in (config.get(section) or {}).items():
        entry = dict(entry or {})
        name = entry.pop(name_key, label)
        if name not in known and ":" not in name:  # "module:Class": a plug-in, imported by the checker
            raise ValueError(f"invalid configuration: {section}.{label}: unknown {name_key} {name!r}; known: {', '.join(sorted(known))}")
        try:
            getattr(registry, checker)(name, entry)
        except ValueError as exc:
            raise ValueError(f"invalid configuration: {section}.{label}: {exc}") from None


_validate_config()

# Defaults come from the schema (validate fills them): no fallback values below.
RESULTS = config["results_dir"]
LAYOUT = ResultsLayout(RESULTS)  # lowlight_common.layout: every result path, spelled once
DATASETS = config["datasets"]
METHODS = config["methods"]

# Every rule runs its command through lowlight_common.joblog ("python -m lowlight_common.joblog
# --log LOG --label LABEL -- COMMAND"): the whole output goes to the job's log; per-image
# progress (with rate and ETA) and a one-line summary, or the cause of a failure, go to the
# console.

def dataset_kind(name):
    """The lldata.kinds record of a dataset's kind (a built-in name or a `module:NAME` plug-in):
    its folders and whether it has face boxes (detection is planned)."""
    from lldata.kinds import get_kind

    return get_kind(DATASETS[name]["kind"])


def _check_datasets():
    """Dataset paths exist and hold their kind's folders, checked before any job (also at
    `-n`): a typo in a path fails here naming the dataset, the path and the current folder it
    was resolved in, instead of in a validation job whose message sits in a log. Generated
    datasets (`generate:`) are made by their rule and checked by validation."""
    problems = []
    for name, entry in DATASETS.items():
        try:
            kind = dataset_kind(name)
        except ImportError:  # packages not installed (lint only)
            return
        except ValueError as exc:
            problems.append(f"datasets.{name}.kind: {exc}")
            continue
        if entry.get("generate"):
            continue
        root = Path(entry["path"])
        if not root.is_dir():
            problems.append(f"datasets.{name}.path: {root} is not a folder (resolved in {Path.cwd()})")
            continue
        needed = kind.folders
        missing = [f for f in needed if not (root / f).is_dir()]
        if missing:
            problems.append(f"datasets.{name}.path: {root} has no {' or '.join(missing)} folder "
                            f"(kind {entry['kind']} needs the folders {', '.join(needed)})")
    if problems:
        raise ValueError("invalid configuration: " + "; ".join(problems))


_check_datasets()


def _claim_results():
    """The results folder is tied to this working directory (whose .snakemake records describe
    its outputs; the repository, whatever folder Snakemake was started from, as
    workflow/Snakefile sets it) and locked while jobs run (lowlight_common.run_lock): a second run on the same
    folder from anywhere else is refused, naming the other run. Manifests record the run (via
    the environment, which job processes inherit)."""
    try:
        from lowlight_common.run_lock import RUN_ENV, check_owner, run_info
    except ImportError:  # packages not installed (lint only)
        return None
    from lowlight_common.provenance import git_state

    run = run_info(os.getcwd(), [str(f) for f in workflow.configfiles], workflow=workflow.basedir, results=RESULTS)
    run["git"] = git_state(workflow.basedir)  # commit and "dirty" of the code, for manifests
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
    checkpoints (DetectorInfo.needs_weights_dir: their constructor takes `weights_dir`)."""
    entry = dict((config["detectors"].get(label) if entry is None else entry) or {})
    name = entry.get("detector", label)
    try:
        from detectors.registry import detector_info

        takes_weights = detector_info(name).needs_weights_dir
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
    """Detectors whose runtime is torch (DetectorInfo.runtime) use the GPU when the device allows
    it (resources: gpu=1), like the learned enhancers; onnxruntime ones pick CUDA themselves when
    their provider is installed, numpy ones run on the CPU: neither asks for a GPU slot."""
    if DEVICE == "cpu":
        return 0
    try:
        from detectors.registry import detector_info

        return int(detector_info((DETECTORS[label] or {}).get("detector", label)).runtime == "torch")
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


def plugin_sources(*names):
    """The source files of the `module:NAME` plug-ins among `names` (a registered name has none):
    inputs of the jobs that use them, so that editing a plug-in reruns its jobs."""
    from lowlight_common.registry import plugin_file

    return [path for path in dict.fromkeys(plugin_file(name) for name in names) if path]


def method_weights(label):
    """The files method `label` reads besides the images: its weights files
    (enhancers.weights.method_weight_files) and, for a `module:Class` plug-in, the plug-in's
    source. They are inputs of its enhance jobs (when present) and their sha256 is in the
    params, so replacing a file at the same path, even with its old time stamp, reruns the jobs
    that used the old one."""
    try:
        from enhancers.registry import method_info
        from enhancers.weights import method_weight_files
    except ImportError:
        return []
    options = {k: v for k, v in (METHODS[label] or {}).items() if k != "method"}
    info = method_info(method_name(label), **options)
    weights = [str(p) for p in method_weight_files(info.weights_files, config.get("weights_dir"))]
    return weights + plugin_sources(method_name(label))


def detector_weights(label):
    """The checkpoint files detector `label` reads and a plug-in's source (as method_weights,
    for detect jobs)."""
    try:
        from detectors.checkpoints import detector_files
        from detectors.registry import check_detector_options, detector_class
    except ImportError:
        return []
    options = detector_entry(label)
    name = options.pop("detector", label)
    as_run = check_detector_options(name, options)
    return [str(p) for p in detector_files(detector_class(name), as_run)] + plugin_sources(name)


def present(paths):
    return [p for p in paths if os.path.isfile(p)]


def digests(paths):
    """{path: sha256} for a job's params ("absent" for a file that is not there)."""
    return {p: _sha256(p) if os.path.isfile(p) else "absent" for p in paths}


def dataset_path(name):
    return DATASETS[name]["path"]


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
    return LAYOUT.dataset_json(name)


def detection_datasets():
    """Datasets whose kind has face boxes (lldata.kinds: has_boxes); the report reads the same
    field from dataset.json."""
    return [d for d in DATASETS if dataset_kind(d).has_boxes]


def enhanced_dir(wc):
    return LAYOUT.images(wc.dataset, wc.method)


def predictions_dir(dataset, method, detector):
    return LAYOUT.predictions(dataset, method, detector)


def eval_outputs(dataset, method, detector):
    """Every file of one evaluation (the `evaluate` rule's outputs). The report reads the PR
    curves and recall per size besides ap.json, so all of them are its inputs."""
    return [LAYOUT.eval_file(dataset, method, detector, name) for name in EVAL_FILES]


def all_enhance_manifests(wc):
    return [LAYOUT.enhance_manifest(wc.dataset, wc.method, s) for s in shards(wc.dataset)]


def all_detect_manifests(wc):
    return [LAYOUT.detect_manifest(wc.dataset, wc.method, wc.detector, s) for s in shards(wc.dataset)]


def all_results():
    """Every per-(dataset, method, detector) result the report reads."""
    out = [dataset_summary(d) for d in DATASETS]
    for d in DATASETS:
        out += [LAYOUT.iqa_summary(d, m) for m in METHODS]
    for d in detection_datasets():
        for m in METHODS:
            for det in DETECTORS:
                out += eval_outputs(d, m, det)
                if m != "raw" and "raw" in METHODS:
                    out.append(LAYOUT.eval_file(d, m, det, "vs_raw.json"))
    if BENCHMARK["enabled"]:
        out.append(LAYOUT.benchmark_csv(benchmark_device()))
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
    return [f"{LAYOUT.report_dir()}/index.html", f"{LAYOUT.report_dir()}/report.md"]


def _weights_problems():
    """Checked before any job (also at `-n`), one policy for enhancers and detectors: a method
    or detector whose weights file is ABSENT is skipped, with the reason on the console and in
    the report (a study can run without, say, a detector the user never downloaded); a file
    that is PRESENT but is not the released one (its sha256 differs from the package's weights
    manifest) refuses the run, listing every such file, since results from it would be silently
    different. Returns (skipped methods {label: reason}, [wrong files])."""
    try:
        from detectors.checkpoints import manifest as detector_manifest
        from enhancers.registry import method_info
        from enhancers.weights import manifest as method_manifest
        from enhancers.weights import weights_dir
    except ImportError:  # packages not installed (lint only)
        return {}, []
    skipped, wrong = {}, []
    for label, entry in METHODS.items():
        options = {k: v for k, v in (entry or {}).items() if k != "method"}
        info = method_info(method_name(label), **options)
        absent = []
        for key in info.weights_files:
            known = method_manifest().get(key)
            path = weights_dir(config.get("weights_dir")) / key if known else Path(key).expanduser()
            if not path.exists():
                where = f" (download {known.url}, sha256 {known.sha256})" if known else ""
                absent.append(f"{path}{where}")
            elif known and path.is_file() and _sha256(str(path)) != known.sha256:
                wrong.append(f"methods.{label}: {path} has sha256 {_sha256(str(path))}, the released {key} has {known.sha256}")
        if absent:
            skipped[label] = "weights not found: " + "; ".join(absent)
            print(f"skipping method {label}: {skipped[label]}", file=sys.stderr)
    for label in DETECTORS:
        options = detector_entry(label)
        if options.get("checkpoint_sha256"):
            continue  # the user pinned their own copy; the detector checks it
        for path in present(detector_weights(label)):
            key = next((k for k in detector_manifest() if path.endswith(k)), None)
            expected = detector_manifest()[key].sha256 if key else None
            if expected and _sha256(path) != expected:
                wrong.append(f"detectors.{label}: {path} has sha256 {_sha256(path)}, the released {key} has {expected}")
    return skipped, wrong


SKIPPED_METHODS, _WRONG_WEIGHTS = _weights_problems()
if _WRONG_WEIGHTS:
    raise ValueError("weights files that are not the released ones (replace them, or remove them to skip "
                     "what needs them):\n  " + "\n  ".join(_WRONG_WEIGHTS))
METHODS = {k: v for k, v in METHODS.items() if k not in SKIPPED_METHODS}


def report_config():
    """The config the report is built from: the methods and detectors that run here (skipped
    ones, with the reason, in their own keys). Passed as a file, not on the command line."""
    return dict(config, methods=METHODS, skipped_detectors=SKIPPED_DETECTORS, skipped_methods=SKIPPED_METHODS)
