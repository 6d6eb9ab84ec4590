# Set-up and checks for asl_mmdet. `make install` builds .venv from nothing (idempotent);
# `make test` runs the suite in it.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION := 2.14.1
TORCH := torch==$(TORCH_VERSION) torchvision==0.29.1
MM := mmdet==3.3.0 mmpretrain==1.2.0
STAMP := $(VENV)/.installed

.PHONY: install test demo demo-cls demo-single gpu-check clean-venv soak-ddp soak-fresh

install: $(STAMP)

$(STAMP): setup.py requirements/runtime.txt requirements/mminstall.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH)
	# after torch, which pulls a setuptools without pkg_resources (mmcv's setup.py needs it)
	$(PIP) install -q "setuptools<70" wheel ninja "numpy<2"
	# mmengine first (with the runtime pins, one resolver run): it brings mmcv's Python
	# dependencies, so `import mmcv.ops` below tells whether mmcv itself is in place
	$(PIP) install -q mmengine==0.10.7 -r requirements/runtime.txt
	# mmcv 2.1.0 has no wheel for this Python: build it from source with its ops. Its setup.py
	# forces -std=c++17 and torch 2.14's headers need C++20: see the mmcv targets below.
	$(PY) -c "import mmcv.ops" 2>/dev/null || $(MAKE) --no-print-directory mmcv
	$(PIP) install -q $(MM) -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) install -q --no-build-isolation --no-deps -e .
	$(PY) -c "import mmcv.ops, mmdet.models, mmpretrain.models, asl_mmdet"
	touch $(STAMP)

# The built wheel is kept per mmcv, torch and Python version (pip's cache is keyed by mmcv's
# version alone, so it would hand back a wheel built against another torch).
MMCV_CACHE := $(HOME)/.cache/asl_mmdet/mmcv-2.1.0-torch$(TORCH_VERSION)-$(PYTHON)
MMCV_SRC := build/mmcv/mmcv-2.1.0

.PHONY: mmcv
mmcv:
	if ls $(MMCV_CACHE)/mmcv-*.whl >/dev/null 2>&1; then \
	  $(PIP) install -q --no-deps --force-reinstall $(MMCV_CACHE)/mmcv-*.whl; fi
	$(PY) -c "import mmcv.ops" 2>/dev/null || $(MAKE) --no-print-directory mmcv-build

.PHONY: mmcv-build
mmcv-build:
	rm -rf build/mmcv $(MMCV_CACHE) && mkdir -p build/mmcv $(MMCV_CACHE)
	$(PIP) download -q --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d build/mmcv
	tar xzf build/mmcv/mmcv-2.1.0.tar.gz -C build/mmcv
	sed -i 's/-std=c++17/-std=c++20/g' $(MMCV_SRC)/setup.py
	cd $(MMCV_SRC) && MMCV_WITH_OPS=1 MAX_JOBS=2 $(abspath $(PY)) -m pip wheel -q \
	  --no-build-isolation --no-deps -w $(MMCV_CACHE) .
	$(PIP) install -q --no-deps --force-reinstall $(MMCV_CACHE)/mmcv-*.whl
	rm -rf build/mmcv

test: install
	$(PY) -m pytest tests

# Reliability checks (not part of `make test`): the 2-process DDP tests RUNS times in a row,
# stopping at the first failure; and `make test` twice in a row on a fresh clone of HEAD.
RUNS ?= 20
DDP_TESTS := $(shell grep -rl "mark.ddp" tests --include="test_*.py")
soak-ddp: install
	for i in $$(seq $(RUNS)); do \
	  echo "== DDP run $$i/$(RUNS)"; \
	  $(PY) -m pytest -q -p no:cacheprovider -m ddp $(DDP_TESTS) || exit 1; \
	done; echo "DDP tests: $(RUNS) of $(RUNS) runs passed"

soak-fresh:
	rm -rf build/fresh-clone && git clone -q . build/fresh-clone
	$(MAKE) -C build/fresh-clone test && $(MAKE) -C build/fresh-clone test
	rm -rf build/fresh-clone

demo: install
	$(PY) tools/demo.py

# On a machine with CUDA: the kernel tests at full sizes, tools/benchmarks/loss.py and the
# tools/benchmarks/train.py runs of docs/benchmarks.md, written into docs/benchmarks.md.
gpu-check: install
	$(PY) tools/benchmarks/gpu_check.py

demo-cls: install
	$(PY) tools/demo.py --task cls

demo-single: install
	$(PY) tools/demo.py --task single

clean-venv:
	rm -rf $(VENV)
