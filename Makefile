# Two entry points (see README "Quick start"): `make demo` and `make test`.
VENV ?= .venv
export VENV

.PHONY: setup demo test lint bench

$(VENV)/.melab-installed: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
	touch $@

setup: $(VENV)/.melab-installed

demo: setup
	$(VENV)/bin/melab demo --out sessions

test: setup
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/python benchmarks/bench_writer.py
