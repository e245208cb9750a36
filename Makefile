# Two commands: `make demo` and `make test`. Both build their own virtual environment.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

WEB := hub/web
WEB_STAMP := $(WEB)/dist/.built

.PHONY: demo test lint venv clean up bench browser web

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The command center page: npm packages (Leaflet, esbuild, the Noto Sans SC font, axe-core
# for the browser test) from the registry by the lock file, bundled into hub/web/dist.
$(WEB)/node_modules/.package-lock.json: $(WEB)/package.json $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
$(WEB_STAMP): $(WEB)/node_modules/.package-lock.json $(WEB)/build.mjs $(wildcard $(WEB)/src/*)
	cd $(WEB) && node build.mjs
	touch $(WEB_STAMP)

web: $(WEB_STAMP)

demo: $(STAMP) $(WEB_STAMP)
	$(BIN)/civic-hub demo

up: $(STAMP) $(WEB_STAMP)
	$(BIN)/civic-hub up

# The browser tests drive Debian's Chromium (no browser download: closed networks).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium is not installed and cannot be (not root): browser tests will be skipped"

test: $(STAMP) $(WEB_STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m schemas.asyncapi --check
	$(BIN)/python -m schemas.compat
	$(BIN)/python -m pytest -q

# The benchmarks' extra (Splink for the baseline of bench/quality.py --splink).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	@echo "benchmarks: see bench/RESULTS.md for each command, e.g."
	@echo "  $(BIN)/python -m bench.quality --generator town --events 150 --splink"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .hub-data $(WEB)/node_modules $(WEB)/dist
