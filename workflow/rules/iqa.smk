# Image quality per (dataset, method): full-reference where references exist, no-reference always.


rule niqe_params:
    """Convert NIQE's pristine parameters (.npz) into the file pyiqa reads from its cache."""
    input:
        npz=IQA["niqe_params"] or [],
    output:
        f"{iqa_cache() or RESULTS}/hub/pyiqa/niqe_modelparameters.mat",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/niqe_params.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label 'NIQE parameters' -- iqa install-niqe {input.npz:q} --cache-dir \"$(dirname {output:q})\""


rule iqa:
    input:
        manifests=all_enhance_manifests,
        niqe=niqe_file,
        summary=LAYOUT.dataset_json("{dataset}"),
        plugins=plugin_sources(*IQA["metrics"]),
    output:
        table=LAYOUT.iqa_table("{dataset}", "{method}"),
        summary=LAYOUT.iqa_summary("{dataset}", "{method}"),
    params:
        images=enhanced_dir,
        metrics=IQA["metrics"],
        cache=f"TORCH_HOME={shlex.quote(iqa_cache())} " if iqa_cache() else "",
        label=lambda wc: f"image quality {wc.dataset}/{wc.method}",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/iqa/{dataset}/{method}.log",
    shell:
        "{params.cache}python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- iqa score --dataset {input.summary:q} "
        "--enhanced {params.images:q} --metrics {params.metrics:q} -o {output.table:q} --summary {output.summary:q}"
