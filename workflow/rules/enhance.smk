# Enhancement: one job per (dataset, method, shard); the model is loaded once per job.


rule enhance:
    """Enhance one shard; the manifest (written last) marks the shard complete."""
    input:
        shards=LAYOUT.shards_dir("{dataset}"),
        weights=lambda wc: present(method_weights(wc.method)),
    output:
        manifest=LAYOUT.enhance_manifest("{dataset}", "{method}", "{shard}"),
    params:
        weights_sha256=lambda wc: digests(method_weights(wc.method)),
        method=lambda wc: method_name(wc.method),
        options=lambda wc: option_args(METHODS[wc.method]),
        out=enhanced_dir,
        weights=f"--weights-dir {shlex.quote(config['weights_dir'])}" if config.get("weights_dir") else "",
        device=DEVICE,
        batch_size=BATCH_SIZE,
        label=lambda wc: f"enhance {wc.dataset}/{wc.method} shard {wc.shard}",
    resources:
        gpu=lambda wc: uses_gpu(wc.method),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/enhance/{dataset}/{method}/{shard}.log",
    benchmark:
        "benchmarks/enhance/{dataset}/{method}/{shard}.tsv"
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- "
        "enhance --method {params.method:q} {params.options} --device {params.device:q} {params.weights} "
        "--batch-size {params.batch_size:q} "
        "--images-from {input.shards:q}/{wildcards.shard}.images --manifest {output.manifest:q} "
        "-o {params.out:q}"
