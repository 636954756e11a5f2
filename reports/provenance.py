"""What produced a report: the options each method and detector ran with, their weights files
with sha256, the device, the git commit of the code (and whether it had uncommitted changes),
package versions, the seeds and the full config. No timestamps, so the same inputs give the
same report bytes.

The per-label facts come from the shard manifests the jobs wrote (lldata.manifest), not from
the config: they say what ran. Results of one label made with different options, weights or
code versions (e.g. a config changed between runs on one results folder) are refused
(:class:`MixedResultsError`) rather than pooled under one name.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from lowlight_common.devices import cpu_model, describe_device, gpu_driver_present
from lowlight_common.layout import ResultsLayout
from lowlight_common.provenance import (
    PACKAGES,
    environment,
    git_state,
    package_versions,
    source_folder,
)

__all__ = ["PACKAGES", "MixedResultsError", "config_hash", "device_description", "label_provenance",
           "package_versions", "provenance", "seeds"]


class MixedResultsError(ValueError):
    """One label's results were made with different options, weights or code."""


def config_hash(config: dict) -> str:
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def device_description(device: str = "auto") -> str:
    """The machine the report's results came from (GPU when the config lets jobs use one)."""
    if device != "cpu" and ("torch" in sys.modules or gpu_driver_present()):  # no driver: no CUDA, no torch import
        try:
            import torch

            if torch.cuda.is_available():
                return f"cuda: {describe_device('cuda')}"
        except ImportError:
            pass
    return f"cpu: {cpu_model()} ({os.cpu_count()} logical cores)"


# What must agree between the shards of one label: the options as run and the weights. The
# device, code version and packages may differ between shards (a cluster, an upgrade between
# runs): they are listed, every distinct value, not refused.
_SAME = ("options_as_run", "weights")


def _identity(manifest: dict) -> dict:
    return {key: manifest.get(key) for key in _SAME}


def _weights_names(weights: dict | None) -> dict[str, str]:
    """``{folder/file name: sha256}`` (the folder tells e.g. zero_dce/ from zero_dce_pp/)."""
    return {f"{Path(p).parent.name}/{Path(p).name}": digest for p, digest in sorted((weights or {}).items())}


def _distinct(values: list) -> list:
    seen: dict[str, object] = {}
    for value in values:
        seen.setdefault(json.dumps(value, sort_keys=True), value)
    return [seen[k] for k in sorted(seen)]


def label_provenance(results: Path, kind: str, labels: list[str], datasets: list[str],
                     detectors_of: list[str] | None = None) -> dict[str, dict]:
    """Per method (``kind="enhance"``) or detector (``kind="detect"``) label: what its shard
    manifests say it ran with. Raises :class:`MixedResultsError` naming the label and two
    shards that disagree."""
    out: dict[str, dict] = {}
    layout = ResultsLayout(str(results))
    for label in labels:
        if kind == "enhance":
            manifests = sorted(p for d in datasets for p in Path(layout.enhance_shards(d, label)).glob("*.enhance.json"))
        else:
            manifests = sorted(p for d in datasets for m in (detectors_of or [])
                               for p in Path(layout.detect_shards(d, m, label)).glob("*.detect.json"))
        first: tuple[Path, dict] | None = None
        devices, gits, packages = [], [], []
        unrecorded = 0
        for path in manifests:
            data = json.loads(path.read_text(encoding="utf-8"))
            if "options_as_run" not in data:  # written before manifests recorded it: unknown, not different
                unrecorded += 1
                continue
            devices.append(data.get("device"))
            gits.append((data.get("run") or {}).get("git"))
            packages.append((data.get("environment") or {}).get("packages"))
            ident = _identity(data)
            if first is None:
                first = (path, ident)
                continue
            if ident != first[1]:
                differ = sorted(k for k in ident if ident[k] != first[1][k])
                raise MixedResultsError(
                    f"{'method' if kind == 'enhance' else 'detector'} {label!r}: results made with different "
                    f"{', '.join(differ)} are mixed in this results folder: {first[0]} has "
                    f"{json.dumps({k: first[1][k] for k in differ}, sort_keys=True)[:300]}, {path} has "
                    f"{json.dumps({k: ident[k] for k in differ}, sort_keys=True)[:300]}. Rerun the label's jobs "
                    "(e.g. snakemake --forcerun enhance/detect) or give the other settings another label")
        if first is not None:
            ident = first[1]
            out[label] = {"options": ident["options_as_run"], "weights_sha256": _weights_names(ident["weights"]),
                          "device": _distinct(devices), "git": _distinct(gits), "packages": _distinct(packages),
                          "shards": len(manifests), "shards_without_record": unrecorded}
    return out


def seeds(config: dict) -> dict[str, object]:
    """Every seed the results depend on, by config key."""
    found: dict[str, object] = {}
    for section in ("demo", "evaluation", "benchmark"):
        if isinstance(config.get(section), dict) and "seed" in config[section]:
            found[f"{section}.seed"] = config[section]["seed"]
    for section in ("methods", "detectors"):
        for label, entry in (config.get(section) or {}).items():
            if isinstance(entry, dict) and "seed" in entry:
                found[f"{section}.{label}.seed"] = entry["seed"]
    return found


def provenance(config: dict, results: Path | None = None, datasets: list[str] | None = None) -> dict:
    """The report's provenance record. With ``results``, the methods' and detectors' options,
    weights and device as run (from their shard manifests), and the code's git state as the
    jobs recorded it."""
    record: dict[str, object] = {
        "config_sha256_16": config_hash(config),
        **environment(),
        "device": device_description(config["device"]),
        "git": git_state(source_folder()),
        "seeds": seeds(config),
    }
    record["packages"] = package_versions()
    if results is not None:
        names = list(config.get("datasets") or {}) if datasets is None else datasets
        methods = label_provenance(results, "enhance", list(config.get("methods") or {}), names)
        detectors = label_provenance(results, "detect", list(config.get("detectors") or {}), names,
                                     detectors_of=list(config.get("methods") or {}))
        record["methods"], record["detectors"] = methods, detectors
        record["git_of_jobs"] = _distinct([g for v in [*methods.values(), *detectors.values()] for g in v["git"] if g])
    return record
