"""Time and peak memory per image, per method x resolution x device (the paper's Table 2).

Every measurement runs in a fresh child process (:mod:`efficiency.worker`), so the peak
resident memory of one configuration is not polluted by another, and a crash or an
out-of-memory in one cell is recorded as a result instead of ending the benchmark.
"""
