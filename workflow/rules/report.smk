# The comparison report: one standalone HTML page + Markdown + CSV tables + figures.


rule report_config:
    """The report's config as a JSON file (its content is the params: a changed config rewrites
    it, and so rebuilds the report; an unchanged one leaves it alone)."""
    output:
        f"{LAYOUT.report_dir()}/config.json",
    localrule: True
    params:
        config=json.dumps(report_config()),
    log:
        "logs/report_config.log",
    run:
        Path(output[0]).write_text(f"{params.config}\n", encoding="utf-8")
        Path(log[0]).write_text(f"wrote {output[0]}\n", encoding="utf-8")


rule report:
    input:
        all_results(),
        config_file=f"{LAYOUT.report_dir()}/config.json",
        # committed results files the report shows: missing ones fail here, by name
        included=BENCHMARK["include"] + BENCHMARK["diffll_speed"] + BENCHMARK["diffusion_scaling"],
    output:
        html=report(f"{LAYOUT.report_dir()}/index.html", caption="../report/report.rst", category="Report"),
        md=f"{LAYOUT.report_dir()}/report.md",
    params:
        results=lambda wc, output: Path(output.html).parent.parent,
        out_dir=lambda wc, output: Path(output.html).parent,
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/report.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label report -- "
        "reports build --config-file {input.config_file:q} --results-dir {params.results:q} -o {params.out_dir:q}"
