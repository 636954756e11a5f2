# Time and peak memory per method x resolution on this machine's device. It takes every core
# so that no other job runs beside it and disturbs the timings. With `interleave` the methods are
# visited side by side (shuffled per round) and each cell gets its ratio to a reference method.


rule benchmark:
    output:
        report(
            f"{RESULTS}/benchmark/{{device}}.csv",
            caption="../report/benchmark.rst",
            category="Efficiency",
        ),
    params:
        methods=BENCHMARK.get("methods") or list(METHODS),
        resolutions=BENCHMARK.get("resolutions", ["600x400", "1280x720"]),
        options=lambda wc: shell_json(benchmark_options()),
        warmup=BENCHMARK.get("warmup", 1),
        repeats=BENCHMARK.get("repeats", 3),
        rounds=BENCHMARK.get("rounds", 1),
        budget=BENCHMARK.get("budget_s", 60),
        interleave="--interleave" if BENCHMARK.get("interleave", False) else "--no-interleave",
        reference=shlex.quote(BENCHMARK.get("reference") or ""),  # '' (the default) when unset
        bench_threads=BENCHMARK.get("threads") or 0,
        min_time=BENCHMARK.get("min_time_s", 0.0),
        seed=BENCHMARK.get("seed", 0),
        pairing=BENCHMARK.get("pairing", "visit"),
    threads: all_cores()
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/benchmark/{device}.log",
    shell:
        "efficiency run --methods {params.methods:q} --resolutions {params.resolutions:q} --device {wildcards.device:q} "
        "--warmup {params.warmup:q} --repeats {params.repeats:q} --rounds {params.rounds:q} --budget {params.budget:q} "
        "{params.interleave} --reference {params.reference} --threads {params.bench_threads:q} --min-time {params.min_time:q} "
        "--pairing {params.pairing:q} --seed {params.seed:q} --options-json {params.options} -o {output:q} > {log:q} 2>&1"
