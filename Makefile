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
CHROMIUM  := $(or $(IPT_CHROMIUM),$(shell command -v chromium || command -v chromium-browser || command -v google-chrome))
comma     := ,
# HTML by default (as `ipt-outcomes report`); for a submission also RTF tables, SVG figures and
# the PDF (Chromium prints the HTML): make report REPORT_FORMATS=html,rtf,svg,pdf
# Paper of the RTF tables and the PDF: REPORT_PAPER=a4 (default) or letter.
REPORT_FORMATS ?= html
REPORT_PAPER   ?= a4
# The options are a dependency of the report: this stamp changes only when they do, so that
# asking for other formats (or paper) rebuilds the report and asking again does not.
REPORT_OPTIONS := reports/.report-options
.PHONY: FORCE

$(REPORT_OPTIONS): FORCE
	@mkdir -p $(@D)
	@echo 'formats=$(REPORT_FORMATS) paper=$(REPORT_PAPER)' | cmp -s - $@ || \
		echo 'formats=$(REPORT_FORMATS) paper=$(REPORT_PAPER)' > $@

reports/report.html: $(DATA) $(CALIB) $(DESIGN) $(STAMP) $(PKG) $(TEMPLATES) $(REPORT_OPTIONS)
	@case ',$(REPORT_FORMATS),' in *,pdf,*) [ -n "$(CHROMIUM)" ] || { \
		echo "make report: REPORT_FORMATS has pdf, which needs Chromium to print the report, and none was found."; \
		echo "  Install it (Debian: apt-get install chromium) or set IPT_CHROMIUM to a Chrome or Chromium executable;"; \
		echo "  or leave pdf out: make report REPORT_FORMATS=html,rtf,svg"; exit 1; } ;; esac
	$(BIN)/ipt-outcomes report --data $(DATA) --design $(DESIGN) --out reports --formats $(REPORT_FORMATS) --paper $(REPORT_PAPER)

report: reports/report.html ## build the report: reports/tables/*.csv -> figures/*.png -> report.html (REPORT_FORMATS=html,rtf,svg,pdf for more; stale formats are removed)

TEACH  := $(wildcard analyses/teaching/*.py analyses/teaching/*.toml analyses/teaching/*.md analyses/teaching/data/*)
# What the worksheets read: the report's tables (by content: a digest that changes only when a
# table does, so that a new format or a template change of the report does not rebuild them),
# the data, the design, the teaching sources and the package code they run (the report's
# rendering code and templates excepted: the worksheets do not use them)
TEACH_PKG := $(filter-out src/ipt_outcomes/cli/% src/ipt_outcomes/report/%,$(PKG)) \
	src/ipt_outcomes/report/figures.py src/ipt_outcomes/report/html.py
TEACH_TEMPLATES := $(filter src/ipt_outcomes/teaching/%,$(TEMPLATES))
REPORT_TABLES := reports/.tables.sha256

$(REPORT_TABLES): reports/report.html
	@cat reports/tables/*.csv | sha256sum | cmp -s - $@ || (cat reports/tables/*.csv | sha256sum > $@)

reports/teaching/index.html: $(REPORT_TABLES) $(DATA) $(DESIGN) $(STAMP) $(TEACH_PKG) $(TEACH_TEMPLATES) $(TEACH)
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
