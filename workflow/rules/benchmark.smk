# Time and peak memory per method x resolution on this machine's device. It takes every core
# so that no other job runs beside it and disturbs the timings.


rule benchmark:
    output:
        report(
            f"{RESULTS}/benchmark/{{device}}.csv",
            caption="../report/benchmark.rst",
            category="Efficiency",
        ),
    params:
        methods=" ".join(BENCHMARK.get("methods") or list(METHODS)),
        resolutions=" ".join(BENCHMARK.get("resolutions", ["600x400", "1280x720"])),
        options=lambda wc: shell_json(benchmark_options()),
        warmup=BENCHMARK.get("warmup", 1),
        repeats=BENCHMARK.get("repeats", 3),
        rounds=BENCHMARK.get("rounds", 1),
        budget=BENCHMARK.get("budget_s", 60),
    threads: workflow.cores
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/benchmark/{device}.log",
    shell:
        "efficiency run --methods {params.methods} --resolutions {params.resolutions} --device {wildcards.device} "
        "--warmup {params.warmup} --repeats {params.repeats} --rounds {params.rounds} --budget {params.budget} "
        "--options-json {params.options} -o {output} > {log} 2>&1"
