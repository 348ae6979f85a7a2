# lutnn: `make demo` and `make test` each work on a fresh machine (Debian, Python 3.11, root or sudo).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.lutnn-installed
DEMO_OUT ?= runs/demo

.PHONY: setup demo test test-all lint bench clean

setup: $(STAMP)

# Debian tools (iverilog) as root when missing; then the venv with torch pinned and the package.
$(STAMP): pyproject.toml
	@command -v iverilog >/dev/null 2>&1 || { \
	  echo ">> installing Debian packages: iverilog"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq iverilog; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[hw,test,interop]"
	touch $(STAMP)

demo: setup
	$(BIN)/lutnn demo --out $(DEMO_OUT)

# the default suite (~12-15 minutes on 2 cores); test-all adds the tests marked slow (the
# quick demo end to end, every model family through C on MNIST, further RTL variants: ~10 more)
test: setup
	$(BIN)/python -m pytest -q -m "not slow"

test-all: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache
