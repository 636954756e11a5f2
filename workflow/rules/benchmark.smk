# Time and peak memory per method x resolution on this machine's device. It takes every core
# so that no other job runs beside it and disturbs the timings. With `interleave` the methods are
# visited side by side (shuffled per round) and each cell gets its ratio to a reference method.


rule benchmark:
    output:
        report(
            LAYOUT.benchmark_csv("{device}"),
            caption="../report/benchmark.rst",
            category="Efficiency",
        ),
    params:
        methods=BENCHMARK["methods"] or list(METHODS),
        resolutions=BENCHMARK["resolutions"],
        options=lambda wc: shell_json(benchmark_options()),
        warmup=BENCHMARK["warmup"],
        repeats=BENCHMARK["repeats"],
        rounds=BENCHMARK["rounds"],
        budget=BENCHMARK["budget_s"],
        interleave="--interleave" if BENCHMARK["interleave"] else "--no-interleave",
        reference=shlex.quote(BENCHMARK["reference"] or ""),  # '' (the default) when unset
        bench_threads=BENCHMARK["threads"] or 0,
        min_time=BENCHMARK["min_time_s"],
        seed=BENCHMARK["seed"],
        pairing=BENCHMARK["pairing"],
    threads: all_cores()
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/benchmark/{device}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label 'benchmark {wildcards.device}' -- efficiency run --methods {params.methods:q} --resolutions {params.resolutions:q} --device {wildcards.device:q} "
        "--warmup {params.warmup:q} --repeats {params.repeats:q} --rounds {params.rounds:q} --budget {params.budget:q} "
        "{params.interleave} --reference {params.reference} --threads {params.bench_threads:q} --min-time {params.min_time:q} "
        "--pairing {params.pairing:q} --seed {params.seed:q} --options-json {params.options} -o {output:q}"
