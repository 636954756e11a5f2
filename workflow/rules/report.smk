# The comparison report: one standalone HTML page + Markdown + CSV tables + figures.


rule report:
    input:
        all_results(),
        # committed results files the report shows: missing ones fail here, by name
        included=BENCHMARK["include"] + BENCHMARK["diffll_speed"] + BENCHMARK["diffusion_scaling"],
    output:
        html=report(f"{RESULTS}/report/index.html", caption="../report/report.rst", category="Report"),
        md=f"{RESULTS}/report/report.md",
    params:
        config=shell_json(dict(config, skipped_detectors=SKIPPED_DETECTORS)),
        results=lambda wc, output: Path(output.html).parent.parent,
        out_dir=lambda wc, output: Path(output.html).parent,
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/report.log",
    shell:
        "reports build --config-json {params.config} --results-dir {params.results:q} -o {params.out_dir:q} > {log:q} 2>&1"
