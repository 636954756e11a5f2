# Thin entry point: configuration, validation and rules live under workflow/.
#   snakemake --cores 2                      default config: the built-in demo dataset
#   snakemake --cores 2 --configfile my.yaml
# The default config applies only when no --configfile is given: a user's config replaces it
# instead of being merged into it (no stray demo dataset or methods in someone else's study).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/detect.smk"
include: "workflow/rules/iqa.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/train.smk"


rule all:
    input:
        report_outputs(),
    default_target: True
