"""Peak memory of this process, as the benchmarks of every package measure it."""

from __future__ import annotations

import resource

__all__ = ["peak_rss_bytes"]


def peak_rss_bytes() -> int:
    """Peak resident set of this process image: VmHWM. ``ru_maxrss`` is not usable here because
    Linux carries the parent's high-water mark across fork and exec, so a child started by a
    large parent (e.g. pytest with torch loaded) would report the parent's peak."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
