"""The comparison report: tables (pandas), figures (matplotlib) and one standalone HTML page
plus a Markdown twin, built only from result files under ``results/``."""
