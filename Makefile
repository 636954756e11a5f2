# Two commands for users: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2
PIP    := $(BIN)/python -m pip --disable-pip-version-check
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: demo test test-fast lint install clean-results

# Re-install only when the dependency files change, so both targets are quick afterwards.
$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt -e ".[test]"
	$(PIP) install -q --no-deps --no-build-isolation -c constraints.txt -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --workflow-profile workflow/profiles/default
	@echo
	@echo "Report: $(CURDIR)/results/report/index.html"

# ruff first: CI (.ci/run -> make test) fails on a lint finding before spending minutes on tests
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(CORES) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(CORES) -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/snakemake --lint

clean-results:
	rm -rf results logs benchmarks .snakemake
