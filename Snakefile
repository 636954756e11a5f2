# Thin entry point: configuration, validation and rule files live under workflow/.
# Run:  snakemake --cores 2                 (default config: the built-in demo dataset)
#       snakemake --cores 2 --configfile my.yaml
configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        report_outputs(),
    default_target: True
