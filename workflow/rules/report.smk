# The comparison report: one standalone HTML page + Markdown + CSV tables.


rule report:
    input:
        datasets=expand(dataset_summary("{dataset}"), dataset=list(DATASETS)),
    output:
        html=report(
            f"{RESULTS}/report/index.html",
            caption="../report/report.rst",
            category="Report",
        ),
        md=f"{RESULTS}/report/report.md",
    params:
        config=shell_json(config),
        out_dir=f"{RESULTS}/report",
    log:
        "logs/report.log",
    shell:
        "reports build --datasets {input.datasets} --config-json {params.config} -o {params.out_dir} > {log} 2>&1"
