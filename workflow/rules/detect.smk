# Face detection and the DARK FACE protocol evaluation, for darkface datasets.


rule detect:
    """Run one detector over one shard of enhanced images (official prediction format)."""
    input:
        enhanced=LAYOUT.enhance_manifest("{dataset}", "{method}", "{shard}"),
        shards=LAYOUT.shards_dir("{dataset}"),
        weights=lambda wc: present(detector_weights(wc.detector)),
    output:
        manifest=LAYOUT.detect_manifest("{dataset}", "{method}", "{detector}", "{shard}"),
    params:
        weights_sha256=lambda wc: digests(detector_weights(wc.detector)),
        detector=lambda wc: (DETECTORS[wc.detector] or {}).get("detector", wc.detector),
        options=lambda wc: option_args(detector_entry(wc.detector), skip=("detector",)),
        images=enhanced_dir,
        out=lambda wc: predictions_dir(wc.dataset, wc.method, wc.detector),
        device=DEVICE,
        label=lambda wc: f"detect {wc.dataset}/{wc.method}/{wc.detector} shard {wc.shard}",
    resources:
        gpu=lambda wc: detector_uses_gpu(wc.detector),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/detect/{dataset}/{method}/{detector}/{shard}.log",
    benchmark:
        "benchmarks/detect/{dataset}/{method}/{detector}/{shard}.tsv"
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- "
        "detectors detect --detector {params.detector:q} {params.options} --device {params.device:q} "
        "--only-stems {input.shards:q}/{wildcards.shard}.stems --manifest {output.manifest:q} "
        "-o {params.out:q} {params.images:q}"


rule evaluate:
    """PR curve, AP with a bootstrap CI, recall per face size, per-image counts. The ground
    truth is the validated dataset.json (boxes clipped when clip_boxes is set), an input.
    Every file `detectors evaluate` writes is an output (detectors.evaluation.outputs): a failed
    or interrupted job leaves none of them behind, and each can be asked for by name."""
    input:
        manifests=all_detect_manifests,
        summary=LAYOUT.dataset_json("{dataset}"),
    output:
        ap=LAYOUT.eval_file("{dataset}", "{method}", "{detector}", "ap.json"),
        pr=LAYOUT.eval_file("{dataset}", "{method}", "{detector}", "pr_curve.csv"),
        per_image=LAYOUT.eval_file("{dataset}", "{method}", "{detector}", "per_image.csv"),
        size_recall=LAYOUT.eval_file("{dataset}", "{method}", "{detector}", "size_recall.csv"),
    params:
        pred=lambda wc: predictions_dir(wc.dataset, wc.method, wc.detector),
        out=lambda wc: LAYOUT.eval_dir(wc.dataset, wc.method, wc.detector),
        bootstrap=EVALUATION["bootstrap"],
        seed=EVALUATION["seed"],
        threshold=EVALUATION["working_threshold"],
        edges=",".join(str(e) for e in EVALUATION["size_edges"]),
        label=lambda wc: f"evaluate {wc.dataset}/{wc.method}/{wc.detector}",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/evaluate/{dataset}/{method}/{detector}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- "
        "detectors evaluate --dataset {input.summary:q} --pred {params.pred:q} --out {params.out:q} "
        "--bootstrap {params.bootstrap:q} --seed {params.seed:q} --working-threshold {params.threshold:q} "
        "--size-edges {params.edges:q}"


rule compare_with_raw:
    """Paired bootstrap of AP(method) - AP(raw) on the same images: is the gain real?"""
    input:
        method=LAYOUT.eval_file("{dataset}", "{method}", "{detector}", "ap.json"),
        raw=LAYOUT.eval_file("{dataset}", "raw", "{detector}", "ap.json"),
        summary=LAYOUT.dataset_json("{dataset}"),
    output:
        LAYOUT.eval_file("{dataset}", "{method}", "{detector}", "vs_raw.json"),
    params:
        raw=lambda wc: predictions_dir(wc.dataset, "raw", wc.detector),
        pred=lambda wc: predictions_dir(wc.dataset, wc.method, wc.detector),
        bootstrap=EVALUATION["bootstrap"],
        seed=EVALUATION["seed"],
        label=lambda wc: f"compare {wc.dataset}/{wc.method}/{wc.detector} with raw",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/compare_with_raw/{dataset}/{method}/{detector}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- "
        "detectors compare --dataset {input.summary:q} --pred {params.raw:q} --pred {params.pred:q} "
        "--bootstrap {params.bootstrap:q} --seed {params.seed:q} --out {output:q}"
