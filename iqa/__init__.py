"""Image-quality metrics for enhanced images (pyiqa's; LPIPS: :mod:`iqa.lpips_alex`), by name.

Full-reference metrics (PSNR, SSIM, LPIPS) need a normal-light reference (paired sets, the demo
set); no-reference metrics (NIQE, PIQE, BRISQUE) run on any image. Parameter and weight files
that installed packages ship are put into the cache on first use (:mod:`iqa.packaged`); metrics
whose files are still missing are *skipped with a reason* naming file, URL and ``iqa fetch``,
never downloaded at run time and never allowed to crash a run.
"""

from iqa.registry import METRICS, MetricSpec, MissingMetricFile, create_metric, missing_files

__all__ = ["METRICS", "MetricSpec", "MissingMetricFile", "create_metric", "missing_files"]
