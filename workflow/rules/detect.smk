# Face detection and the DARK FACE protocol evaluation, for darkface datasets.


rule detect:
    """Run one detector over one shard of enhanced images (official prediction format)."""
    input:
        enhanced=f"{RESULTS}/{{dataset}}/{{method}}/shards/{{shard}}.enhance.json",
        shards=f"{RESULTS}/{{dataset}}/shards",
    output:
        manifest=f"{RESULTS}/{{dataset}}/{{method}}/{{detector}}/shards/{{shard}}.detect.json",
    params:
        detector=lambda wc: (DETECTORS[wc.detector] or {}).get("detector", wc.detector),
        options=lambda wc: option_args(detector_entry(wc.detector), skip=("detector",)),
        images=enhanced_dir,
        out=lambda wc: predictions_dir(wc.dataset, wc.method, wc.detector),
        device=DEVICE,
    resources:
        gpu=lambda wc: detector_uses_gpu(wc.detector),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/detect/{dataset}/{method}/{detector}/{shard}.log",
    benchmark:
        "benchmarks/detect/{dataset}/{method}/{detector}/{shard}.tsv"
    shell:
        "detectors detect --detector {params.detector} {params.options} --device {params.device} "
        "--only-stems {input.shards}/{wildcards.shard}.stems --manifest {output.manifest} --quiet "
        "-o {params.out} {params.images} > {log} 2>&1"


rule evaluate:
    """PR curve, AP with a bootstrap CI, recall per face size, per-image counts."""
    input:
        all_detect_manifests,
    output:
        ap=f"{RESULTS}/{{dataset}}/{{method}}/{{detector}}/eval/ap.json",
        pr=f"{RESULTS}/{{dataset}}/{{method}}/{{detector}}/eval/pr_curve.csv",
    params:
        gt=lambda wc: f"{dataset_path(wc.dataset)}/label",
        pred=lambda wc: predictions_dir(wc.dataset, wc.method, wc.detector),
        out=lambda wc: f"{RESULTS}/{wc.dataset}/{wc.method}/{wc.detector}/eval",
        bootstrap=EVALUATION.get("bootstrap", 1000),
        seed=EVALUATION.get("seed", 0),
        threshold=EVALUATION.get("working_threshold", 0.5),
        edges=",".join(str(e) for e in EVALUATION.get("size_edges", [16, 32])),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/evaluate/{dataset}/{method}/{detector}.log",
    shell:
        "detectors evaluate --gt {params.gt} --pred {params.pred} --out {params.out} "
        "--bootstrap {params.bootstrap} --seed {params.seed} --working-threshold {params.threshold} "
        "--size-edges {params.edges} > {log} 2>&1"


rule compare_with_raw:
    """Paired bootstrap of AP(method) - AP(raw) on the same images: is the gain real?"""
    input:
        method=f"{RESULTS}/{{dataset}}/{{method}}/{{detector}}/eval/ap.json",
        raw=f"{RESULTS}/{{dataset}}/raw/{{detector}}/eval/ap.json",
    output:
        f"{RESULTS}/{{dataset}}/{{method}}/{{detector}}/eval/vs_raw.json",
    params:
        gt=lambda wc: f"{dataset_path(wc.dataset)}/label",
        raw=lambda wc: predictions_dir(wc.dataset, "raw", wc.detector),
        pred=lambda wc: predictions_dir(wc.dataset, wc.method, wc.detector),
        bootstrap=EVALUATION.get("bootstrap", 1000),
        seed=EVALUATION.get("seed", 0),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/compare_with_raw/{dataset}/{method}/{detector}.log",
    shell:
        "detectors compare --gt {params.gt} --pred {params.raw} --pred {params.pred} "
        "--bootstrap {params.bootstrap} --seed {params.seed} --out {output} > {log} 2>&1"
