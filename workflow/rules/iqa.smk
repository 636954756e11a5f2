# Image quality per (dataset, method): full-reference where references exist, no-reference always.


rule niqe_params:
    """Convert NIQE's pristine parameters (.npz) into the file pyiqa reads from its cache."""
    input:
        npz=IQA.get("niqe_params") or [],
    output:
        f"{IQA.get('cache_dir') or 'results/torch-cache'}/hub/pyiqa/niqe_modelparameters.mat",
    log:
        "logs/niqe_params.log",
    shell:
        "iqa install-niqe {input.npz} --cache-dir $(dirname {output}) > {log} 2>&1"


def niqe_file(wc):
    if IQA.get("niqe_params") and "niqe" in IQA.get("metrics", []):
        return rules.niqe_params.output
    return []


def iqa_cache():
    if IQA.get("cache_dir"):
        return IQA["cache_dir"]
    return "results/torch-cache" if IQA.get("niqe_params") else None


rule iqa:
    input:
        manifests=all_enhance_manifests,
        niqe=niqe_file,
        summary=f"{RESULTS}/{{dataset}}/dataset.json",
    output:
        table=f"{RESULTS}/{{dataset}}/{{method}}/iqa/per_image.csv",
        summary=f"{RESULTS}/{{dataset}}/{{method}}/iqa/summary.json",
    params:
        images=enhanced_dir,
        metrics=" ".join(IQA.get("metrics", ["psnr", "ssim", "piqe"])),
        cache=f"TORCH_HOME={shlex.quote(iqa_cache())} " if iqa_cache() else "",
    log:
        "logs/iqa/{dataset}/{method}.log",
    shell:
        "{params.cache}iqa score --dataset {input.summary} --enhanced {params.images} "
        "--metrics {params.metrics} -o {output.table} --summary {output.summary} > {log} 2>&1"
