"""The report's "Provenance" section: what produced its figures (the record of
:func:`reports.provenance.provenance`), as tables, with the full config collapsed."""

from __future__ import annotations

import json

import pandas as pd

from reports.html import escape, table
from reports.sections import Section


def _labels_table(record: dict[str, dict], config_section: dict, name_key: str) -> pd.DataFrame:
    """One row per method or detector label: what ran, as its shard manifests say."""
    rows = []
    for label, facts in record.items():
        entry = config_section.get(label) or {}
        rows.append({
            "label": label, name_key: entry.get(name_key, label),
            "options as run": json.dumps(facts["options"], sort_keys=True),
            "weights (sha256)": "; ".join(f"{name} {digest}" for name, digest in facts["weights_sha256"].items()) or "none",
            "device": ", ".join(str(d) for d in facts["device"]),
            "shards": facts["shards"] if not facts["shards_without_record"] else
            f"{facts['shards']} ({facts['shards_without_record']} from before manifests recorded options)",
        })
    return pd.DataFrame(rows)


def provenance_section(prov: dict, config: dict) -> Section:
    """Options, weights, device, code version, packages, seeds and the full config (collapsed)."""
    html_parts: list[str] = []
    md: list[str] = []
    git = prov["git"]
    commit = git.get("commit") or "not a git checkout"
    state = "" if git.get("commit") is None else (" (dirty: uncommitted changes)" if git.get("dirty") else " (clean)")
    jobs = prov.get("git_of_jobs") or []
    jobs_text = "; ".join(f"{g.get('commit')}{' dirty' if g.get('dirty') else ''}" for g in jobs) or "not recorded"
    facts = [("code (git commit of this report's build)", f"{commit}{state}"),
             ("code the jobs ran (from their manifests)", jobs_text),
             ("device", prov["device"]), ("python", prov["python"]), ("platform", prov["platform"]),
             ("config sha256 (first 16)", prov["config_sha256_16"]),
             ("seeds", ", ".join(f"{k}={v}" for k, v in prov["seeds"].items()) or "none")]
    skipped = {**{f"method {k}": v for k, v in (config.get("skipped_methods") or {}).items()},
               **{f"detector {k}": v for k, v in (config.get("skipped_detectors") or {}).items()}}
    facts += [(f"skipped {k}", v) for k, v in skipped.items()]
    frame = pd.DataFrame(facts, columns=["what", "value"])
    html_parts.append(table(frame))
    md += [frame.to_markdown(index=False), ""]
    for title, record, section, key in (("Methods as run", prov.get("methods") or {}, config.get("methods") or {}, "method"),
                                        ("Detectors as run", prov.get("detectors") or {}, config.get("detectors") or {}, "detector")):
        labels = _labels_table(record, section, key)
        if not labels.empty:
            html_parts.append(f"<h3>{escape(title)}</h3>" + table(labels))
            md += [f"### {title}", "", labels.to_markdown(index=False), ""]
    versions = pd.DataFrame(sorted(prov["packages"].items()), columns=["package", "version"])
    html_parts.append("<h3>Package versions (report)</h3>" + table(versions))
    md += ["### Package versions (report)", "", versions.to_markdown(index=False), ""]
    full = json.dumps(config, indent=1, sort_keys=True, default=str)
    html_parts.append(f"<details><summary>Full config</summary><pre>{escape(full)}</pre></details>")
    md += ["<details><summary>Full config</summary>", "", "```json", full, "```", "", "</details>", ""]
    return Section("Provenance", "".join(html_parts), md)
