# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project with the extras they need.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   := demo
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: install test demo bench lint clean

# Re-install when the project's metadata changes; the stamp keeps repeat runs fast.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,cnn,dask]'
	touch $@

install: $(VENV)/.installed

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/cbedfeat inspect $(DEMO)/data

bench: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/ruff check cbedfeat tests bench

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
