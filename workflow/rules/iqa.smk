# Image quality per (dataset, method): full-reference where references exist, no-reference always.


rule iqa:
    input:
        manifests=all_enhance_manifests,
        summary=f"{RESULTS}/{{dataset}}/dataset.json",
    output:
        table=f"{RESULTS}/{{dataset}}/{{method}}/iqa/per_image.csv",
        summary=f"{RESULTS}/{{dataset}}/{{method}}/iqa/summary.json",
    params:
        images=enhanced_dir,
        metrics=" ".join(IQA.get("metrics", ["psnr", "ssim", "piqe"])),
        cache=f"TORCH_HOME={shlex.quote(IQA['cache_dir'])} " if IQA.get("cache_dir") else "",
    log:
        "logs/iqa/{dataset}/{method}.log",
    shell:
        "{params.cache}iqa score --dataset {input.summary} --enhanced {params.images} "
        "--metrics {params.metrics} -o {output.table} --summary {output.summary} > {log} 2>&1"
