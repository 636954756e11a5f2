"""The results layout: where every job writes and every reader looks, spelled once.

``results/<dataset>/dataset.json``, ``<dataset>/<method>/images``, ``<method>/shards/N.enhance.json``,
``<method>/iqa/{summary.json,per_image.csv}``, ``<method>/<detector>/predictions``,
``<detector>/shards/N.detect.json``, ``<detector>/eval/<file>`` (``vs_raw.json`` besides
:data:`EVAL_FILES`), ``<dataset>/shards``, ``report/`` and ``benchmark/<device>.csv``. The workflow's rules (through
workflow/rules/common.smk) and the report (reports/) both ask this class, so a path cannot drift
between the writer and the reader. Paths are strings joined with ``/`` (not normalised), so that
Snakemake sees exactly the same text in an output and in the input that requests it; arguments may
be Snakemake wildcards such as ``"{dataset}"``.
"""

from __future__ import annotations

from dataclasses import dataclass

EVAL_FILES = ("ap.json", "pr_curve.csv", "per_image.csv", "size_recall.csv")


@dataclass(frozen=True)
class ResultsLayout:
    root: str

    def dataset_json(self, dataset: str) -> str:
        return f"{self.root}/{dataset}/dataset.json"

    def images(self, dataset: str, method: str) -> str:
        return f"{self.root}/{dataset}/{method}/images"

    def enhance_shards(self, dataset: str, method: str) -> str:
        """The folder of a method's shard manifests (``N.enhance.json``)."""
        return f"{self.root}/{dataset}/{method}/shards"

    def enhance_manifest(self, dataset: str, method: str, shard: int | str) -> str:
        return f"{self.enhance_shards(dataset, method)}/{shard}.enhance.json"

    def iqa_summary(self, dataset: str, method: str) -> str:
        return f"{self.root}/{dataset}/{method}/iqa/summary.json"

    def iqa_table(self, dataset: str, method: str) -> str:
        return f"{self.root}/{dataset}/{method}/iqa/per_image.csv"

    def predictions(self, dataset: str, method: str, detector: str) -> str:
        return f"{self.root}/{dataset}/{method}/{detector}/predictions"

    def detect_shards(self, dataset: str, method: str, detector: str) -> str:
        """The folder of a detector's shard manifests (``N.detect.json``)."""
        return f"{self.root}/{dataset}/{method}/{detector}/shards"

    def detect_manifest(self, dataset: str, method: str, detector: str, shard: int | str) -> str:
        return f"{self.detect_shards(dataset, method, detector)}/{shard}.detect.json"

    def eval_dir(self, dataset: str, method: str, detector: str) -> str:
        return f"{self.root}/{dataset}/{method}/{detector}/eval"

    def eval_file(self, dataset: str, method: str, detector: str, name: str) -> str:
        return f"{self.eval_dir(dataset, method, detector)}/{name}"

    def shards_dir(self, dataset: str) -> str:
        return f"{self.root}/{dataset}/shards"

    def report_dir(self) -> str:
        return f"{self.root}/report"

    def benchmark_csv(self, device: str) -> str:
        return f"{self.root}/benchmark/{device}.csv"
