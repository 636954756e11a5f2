# Datasets: build the demo set when asked, validate every dataset, split it into shards.


rule demo_dataset:
    """Generate the built-in demo dataset (DARK FACE layout + references) from scikit-image data."""
    output:
        manifest="{path}/manifest.json",
    wildcard_constraints:
        path="|".join(d["path"] for d in DATASETS.values() if d.get("generate") == "demo") or "NO_DEMO",
    params:
        options=shell_json(config.get("demo", {})),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/demo_dataset/{path}.log",
    shell:
        "lldata demo {wildcards.path} --options-json {params.options} > {log} 2>&1"


rule sice_pairs_dataset:
    """Real paired data from SICE exposure sequences: find scenes and pairs, write one split as
    a paired dataset. pairs.json is moved into place last: it marks the dataset complete."""
    output:
        pairs="{path}/pairs.json",
    wildcard_constraints:
        path="|".join(d["path"] for d in DATASETS.values() if d.get("generate") == "sice_pairs") or "NO_SICE",
    params:
        source=lambda wc: next(d["source"] for d in DATASETS.values() if d["path"] == wc.path),
        split=lambda wc: next(d.get("split", "val") for d in DATASETS.values() if d["path"] == wc.path),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/sice_pairs_dataset/{path}.log",
    shell:
        "(diffll pairs {params.source} -o {wildcards.path}/pairs.tmp.json && "
        "diffll pairs-to-dataset {wildcards.path}/pairs.tmp.json {wildcards.path} --split {params.split} && "
        "mv {wildcards.path}/pairs.tmp.json {output.pairs}) > {log} 2>&1"


rule validate_dataset:
    """Check images, labels and boxes; the JSON summary lists the items every later job uses."""
    input:
        ready=lambda wc: dataset_ready_marker(wc.dataset),
    output:
        summary=f"{RESULTS}/{{dataset}}/dataset.json",
    params:
        path=lambda wc: dataset_path(wc.dataset),
        kind=lambda wc: DATASETS[wc.dataset]["kind"],
        clip=lambda wc: "--clip-boxes" if DATASETS[wc.dataset].get("clip_boxes") else "",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/validate_dataset/{dataset}.log",
    shell:
        "lldata validate {params.path} --kind {params.kind} {params.clip} --report {output.summary} > {log} 2>&1"


rule shard_dataset:
    """Split the validated image list into `shards` stems files (round robin)."""
    input:
        summary=f"{RESULTS}/{{dataset}}/dataset.json",
    output:
        stems=directory(f"{RESULTS}/{{dataset}}/shards"),
    params:
        number=lambda wc: len(shards(wc.dataset)),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/shard_dataset/{dataset}.log",
    shell:
        "lldata shard {input.summary} --shards {params.number} -o {output.stems} > {log} 2>&1"
