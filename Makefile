# mailassist: the two README commands are `make run` and `make test`; `make help` lists the rest.

PYTHON ?= python3
VENV   ?= .venv
CONFIG ?= config.example.toml
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-k smtp -x"`.
PYTEST_ARGS ?=

BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed
TYPED := gateway linker store mailassist web

.DEFAULT_GOAL := help
.PHONY: help venv run test lint typecheck pytest fmt clean demo-mail eval bench screenshots

help: ## Show this list
	@echo "Usage: make TARGET   (PYTHON=$(PYTHON) VENV=$(VENV) CONFIG=$(CONFIG))"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

# ---- virtual environment -------------------------------------------------------------------------------------

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { \
	  echo "error: '$(PYTHON)' not found. Install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
	  echo "error: mailassist needs Python 3.11+, but $(PYTHON) is $$($(PYTHON) -V 2>&1)."; \
	  echo "       Install a newer Python, or point make at one: make PYTHON=python3.11 ..."; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "error: $(PYTHON) has no working venv module. On Debian/Ubuntu: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# Reinstall only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $@

venv: $(STAMP) ## Create the virtual environment and install the project with its dev tools

# ---- the two README commands ---------------------------------------------------------------------------------

run: $(STAMP) ## Start the gateway: SMTP, worker and web viewer in one process (SQLite under ./var/)
	$(BIN)/mailassist --config $(CONFIG) serve

test: lint typecheck pytest ## Lint, type-check and run the whole test suite

# ---- pieces of `make test` -----------------------------------------------------------------------------------

lint: $(STAMP) ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) ## mypy (strict for our packages, see pyproject.toml)
	$(BIN)/mypy $(TYPED)

# pytest exits 5 when it collected no test: that is a failure, never a silent pass.
pytest: $(STAMP) ## Run pytest only
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests"; fi; exit $$rc

# The inline/attached forward evaluation over a corpus of ID.eml + ID.json cases.
CORPUS ?= ../shared/corpus/forward-dev
eval: $(STAMP) ## Run bench/forward_eval.py over $(CORPUS)
	$(BIN)/python bench/forward_eval.py $(CORPUS)

# Every benchmark in --quick mode (.ci/run runs this): each script checks its own sanity (all mail linked, counts
# right) and exits non-zero when it fails; timings are printed, never checked. Full runs: see bench/README.md.
BENCH_SCRIPTS ?= smtp_intake auth pipeline directory parse memory hostile relink imap_backfill
bench: $(STAMP) ## Run every bench/ script with --quick (sanity only, never timings)
	@failed=; for script in $(BENCH_SCRIPTS); do \
	  echo "--- bench/$$script.py --quick"; \
	  $(BIN)/python bench/$$script.py --quick || failed="$$failed $$script"; \
	done; \
	if [ -n "$$failed" ]; then echo "error: benchmark sanity failed:$$failed"; exit 1; fi

# After a change to the pages: rewrite the baselines that no longer match (kept when within the tolerance), then
# README's copies. Review the new images (git diff shows which changed) before committing them.
screenshots: $(STAMP) ## Rewrite changed screenshot baselines (tests/browser/screenshots/) and README's copies (docs/)
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser/test_screenshots.py -q
	$(BIN)/python -m tests.browser.readme_shots

fmt: $(STAMP) ## Reformat and apply safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove var/ (database and blobs), the virtual environment and tool caches
	rm -rf var $(VENV) .pytest_cache .mypy_cache .ruff_cache

# ---- a first test mail ---------------------------------------------------------------------------------------

demo-mail: $(STAMP) ## Import examples/users.csv and send one mail to the running gateway
	$(BIN)/mailassist --config $(CONFIG) import users examples/users.csv
	$(BIN)/python examples/demo_mail.py $(CONFIG)
	$(BIN)/mailassist --config $(CONFIG) queue --limit 5
