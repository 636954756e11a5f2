# Datasets: build the demo set when asked, validate every dataset, split it into shards.


rule demo_dataset:
    """Generate the built-in demo dataset (DARK FACE layout + references) from scikit-image data."""
    output:
        manifest="{path}/manifest.json",
    wildcard_constraints:
        path="|".join(d["path"] for d in DATASETS.values() if d.get("generate") == "demo") or "NO_DEMO",
    params:
        options=shell_json(config.get("demo", {})),
        label=lambda wc: f"demo dataset {wc.path}",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/demo_dataset/{path}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- lldata demo {wildcards.path:q} --options-json {params.options}"


rule sice_pairs_dataset:
    """Real paired data from SICE exposure sequences: find scenes and pairs, write one split as
    a paired dataset. pairs.json is moved into place last: it marks the dataset complete."""
    output:
        pairs="{path}/pairs.json",
    wildcard_constraints:
        path="|".join(d["path"] for d in DATASETS.values() if d.get("generate") == "sice_pairs") or "NO_SICE",
    params:
        source=lambda wc: next(d["source"] for d in DATASETS.values() if d["path"] == wc.path),
        split=lambda wc: next(d["split"] for d in DATASETS.values() if d["path"] == wc.path),
        label=lambda wc: f"SICE pairs {wc.path}",
        tmp=lambda wc: Path(wc.path, "pairs.tmp.json"),
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/sice_pairs_dataset/{path}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- sh -c "
        "'diffll pairs \"$1\" -o \"$5\" && diffll pairs-to-dataset \"$5\" \"$2\" --split \"$3\" && mv \"$5\" \"$4\"' "
        "sice_pairs {params.source:q} {wildcards.path:q} {params.split:q} {output.pairs:q} {params.tmp:q}"


rule validate_dataset:
    """Check images, labels and boxes; the JSON summary lists the items every later job uses.
    Its inputs are the dataset's files (see dataset_files), so changes to them rerun it."""
    input:
        files=dataset_files,
        plugins=lambda wc: plugin_sources(DATASETS[wc.dataset]["kind"]),
    output:
        summary=LAYOUT.dataset_json("{dataset}"),
    params:
        path=lambda wc: dataset_path(wc.dataset),
        kind=lambda wc: DATASETS[wc.dataset]["kind"],
        clip=lambda wc: "--clip-boxes" if DATASETS[wc.dataset]["clip_boxes"] else "",
        label=lambda wc: f"validate {wc.dataset}",
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/validate_dataset/{dataset}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- "
        "lldata validate {params.path:q} --kind {params.kind:q} {params.clip} --report {output.summary:q}"


rule shard_dataset:
    """Split the validated image list into `shards` shards (round robin): N.images lists the image
    paths (enhancement reads them, wherever the kind keeps its images), N.stems the same images'
    stems (detection and scoring read outputs named by stem)."""
    input:
        summary=LAYOUT.dataset_json("{dataset}"),
    output:
        stems=directory(LAYOUT.shards_dir("{dataset}")),
    params:
        number=lambda wc: len(shards(wc.dataset)),
        results=lambda wc: f"{RESULTS}/{wc.dataset}",
        label=lambda wc: f"shard {wc.dataset}",
        layout="images+stems",  # shards of an older layout (stems only) are rewritten
    conda:
        "../envs/lowlight.yaml"
    log:
        "logs/shard_dataset/{dataset}.log",
    shell:
        "python -m lowlight_common.joblog --log {log:q} --label {params.label:q} -- lldata shard {input.summary:q} --shards {params.number} "
        "-o {output.stems:q} --remove-stale {params.results:q}"
