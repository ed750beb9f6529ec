# Every target bootstraps the virtual environment first, so each works on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test audit lint bench chaos clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mmflow demo

# pytest runs three workers: most tests wait on servers and child processes, so three share
# the 2 cores well; tests sharing one costly fixture stay in one worker (tests/conftest.py).
# Measured here on 2026-11-27: 257 s at 19:20, 290-304 s in fresh-clone CI in the slower
# evening and 166.5 s at 22:03, against 337-395 s while that grouping was silently off
# (pytest 9.2 with pytest-xdist 3.8, see pyproject.toml), which ran the demo twice at once.
# On the slower machine of 23:26-00:39: 268.7, 240.0 and 228.8 s in fresh-clone CI; -n 4 took
# 266.5 s, no faster.
test: $(STAMP) audit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 3 --dist loadgroup

# 200,000 recipients end to end under faults; prints one JSON line, exits 1 on any mismatch.
chaos: $(STAMP)
	$(BIN)/mmflow chaos --out chaos_output

# Known vulnerabilities of every pin in requirements.lock, from PyPI's data (pip-audit);
# exits 1 on one not listed in README's "Dependency audit". Part of `make test`, so CI runs it.
audit: $(STAMP)
	$(BIN)/python tools/audit_dependencies.py

bench: $(STAMP)
	$(BIN)/python benchmarks/send_client.py
	$(BIN)/python benchmarks/send_campaign.py

clean:
	rm -rf $(VENV) demo_output chaos_output .pytest_cache .ruff_cache
