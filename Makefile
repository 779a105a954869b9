# The two commands of the README. Everything installs into .venv from the package registries.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: quickstart test install clean

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[offline,test]"
	# MovieLens-100K ships inside the recbole wheel, music-tagging weights inside musicnn's;
	# --no-deps keeps their stale pins (TensorFlow, old numpy) out.
	$(PY) -m pip install --quiet --no-deps recbole==1.2.1 musicnn==0.1.0
	touch $(STAMP)

install: $(STAMP)

quickstart: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/mmgraph quickstart

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest

clean:
	rm -rf $(VENV) runs data
