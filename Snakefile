# Thin entry point: the workflow is workflow/Snakefile (configuration, validation and rules live
# under workflow/, as in the snakemake-workflows catalog); this file lets `snakemake` run from the
# repository root.
#   snakemake --cores 2                      default config: the built-in demo dataset
#   snakemake --cores 2 --configfile my.yaml


include: "workflow/Snakefile"


# `include:` keeps the including file's default target (none here), so name it again.
rule default:
    """Everything `all` builds (the report and all it reads)."""
    input:
        rules.all.input,
    default_target: True
