# Training DiffLL (not part of `all`): `snakemake --cores 8 train --configfile my.yaml`
# with `training: {configs: [config/train/gpu.yaml], sice_dir: ../shared/data/sice}`.
# Resumes from the newest checkpoint when rerun; exports fp16 weights + model card at the end.
TRAINING = config["training"]


rule sice_pair_list:
    """Scenes and (under-exposed, well-exposed) pairs from SICE exposure sequences."""
    output:
        f"{RESULTS}/train/sice_pairs.json",
    params:
        source=TRAINING["sice_dir"],
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/train/sice_pair_list.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label 'SICE pair list' -- diffll pairs {params.source:q} -o {output:q}"


rule train_diffll:
    input:
        pairs=f"{RESULTS}/train/sice_pairs.json",
        config="config/train/{name}.yaml",
    output:
        model=directory(f"{RESULTS}/train/{{name}}/export"),
    params:
        run=lambda wc, output: Path(output.model).parent,
    resources:
        gpu=1,
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/train/{name}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label 'train {wildcards.name}' -- sh -c "
        "'diffll train --config \"$1\" --set data.pair_list=\"$2\" --out \"$3\" --resume auto && diffll export \"$3\" \"$4\"' "
        "train {input.config:q} {input.pairs:q} {params.run:q} {output.model:q}"


rule train:
    """Target: train every configured model."""
    input:
        expand(f"{RESULTS}/train/{{name}}/export", name=[Path(c).stem for c in TRAINING["configs"]]),
