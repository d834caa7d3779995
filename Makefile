# ipt-outcomes: every target builds real files, so `make` redoes only what changed.
# Fresh machine: `make report` (the main job) and `make test` each install what they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SEED   := 2016
DESIGN := analyses/saloheimo2016.toml
DATA   := data/synthetic/trial.csv
CALIB  := data/synthetic/calibration.csv
PKG    := $(shell find src/ipt_outcomes -name '*.py' -o -name '*.csv' -o -name '*.toml')

.DEFAULT_GOAL := help
.PHONY: help setup data test lint format bench report teaching validation clean

help: ## show this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $@

setup: $(STAMP) ## create .venv and install the package with its dev tools

$(DATA) $(CALIB) &: $(STAMP) $(PKG)
	$(BIN)/ipt-outcomes simulate --seed $(SEED) --out $(DATA) --calibration $(CALIB)

data: $(DATA) ## build the calibrated synthetic trial (data/synthetic/trial.csv)

TEMPLATES := $(shell find src/ipt_outcomes -path '*/templates/*' -type f)
CHROMIUM  := $(shell command -v chromium || command -v chromium-browser || command -v google-chrome)
comma     := ,
# HTML by default (as `ipt-outcomes report`); for a submission also RTF tables, SVG figures and
# the PDF (Chromium prints the HTML): make report REPORT_FORMATS=html,rtf,svg,pdf
REPORT_FORMATS ?= html

reports/report.html: $(DATA) $(CALIB) $(DESIGN) $(STAMP) $(PKG) $(TEMPLATES)
	$(BIN)/ipt-outcomes report --data $(DATA) --design $(DESIGN) --out reports --formats $(REPORT_FORMATS)

report: reports/report.html ## build the report: reports/tables/*.csv -> figures/*.png -> report.html (REPORT_FORMATS=html,rtf,svg,pdf for more)

TEACH  := $(wildcard analyses/teaching/*.py analyses/teaching/*.toml analyses/teaching/*.md analyses/teaching/data/*)

reports/teaching/index.html: reports/report.html $(DATA) $(DESIGN) $(STAMP) $(PKG) $(TEMPLATES) $(TEACH)
	$(BIN)/python analyses/teaching/build.py --data $(DATA) --design $(DESIGN) --tables reports/tables --out reports/teaching --seed $(SEED)

teaching: reports/teaching/index.html ## build the eight worksheets into reports/teaching/ (instructor keys in reports/teaching/keys/)

# One run of the suite serves both `make test` and `make validation`: pytest runs under coverage.py
# and writes its JUnit XML; `make validation` only renders them (and runs the suite itself only when
# the tests or the package are newer than the last run's results).
VALID   := reports/validation
TESTS   := $(shell find tests -type f -not -path '*/__pycache__/*')
PYTEST  := mkdir -p $(VALID) && rm -f $(VALID)/.coverage && $(BIN)/python -m coverage run -m pytest -q --junitxml=$(VALID)/junit.xml

test: $(STAMP) ## lint, then run every test and doctest (JUnit XML and coverage into reports/validation/)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PYTEST)

$(VALID)/junit.xml: $(STAMP) $(PKG) $(TESTS)
	$(PYTEST)

validation: $(VALID)/junit.xml ## the validation report: requirements -> tests -> references, coverage (reports/validation/index.html, traceability.csv)
	$(BIN)/python -m coverage json -q -o $(VALID)/coverage.json
	$(BIN)/python validation/build.py --junit $(VALID)/junit.xml --coverage $(VALID)/coverage.json --out $(VALID)

lint: $(STAMP) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP) ## whole-process timings against the goals and against R where installed (reports/bench.csv, README table)
	$(BIN)/python benchmarks/run.py --out reports/bench.csv
	$(BIN)/python benchmarks/readme_table.py --bench reports/bench.csv --readme README.md

clean: ## remove generated data and reports (keeps .venv)
	rm -rf reports/report.html reports/report.pdf reports/provenance.csv reports/tables reports/figures reports/rtf reports/bench.csv reports/teaching reports/validation $(DATA) $(CALIB)
