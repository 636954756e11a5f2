# Thin entry point: configuration, validation and rules live under workflow/.
#   snakemake --cores 2                      default config: the built-in demo dataset
#   snakemake --cores 2 --configfile my.yaml
configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/iqa.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        report_outputs(),
    default_target: True
