# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The demucs extra (torch + demucs) is installed so that `make test` tests htdemucs too. torch is pinned in the
# same pip command as the project: the extra's bare range would pull a multi-GB CUDA build; 2.13.0 is the CPU
# wheel this kind of machine carries. The core install (`pip install .`) needs neither (.ci/wheel-check).
$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0" -e ".[test,demucs]"
	touch $(STAMP)

install: $(STAMP)

# Replaces the last finished demo when this one finishes; a killed demo of the same configuration (its finished
# trials wait in runs/.demo.partial) is continued, one of another configuration discarded.
demo: $(STAMP)
	$(VENV)/bin/jaxsep demo --out runs/demo --overwrite --resume

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n 2 tests

clean:
	rm -rf $(VENV)
