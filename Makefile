# Set-up and checks for asl_mmdet. `make install` builds .venv from nothing (idempotent);
# `make test` runs the suite in it.
# Two stacks share these rules: today's (the defaults) and the OpenMMLab wheel stack of
# `make test-compat` (Python 3.8, torch 2.1.2, mmcv's own C++17), in its own venv.
PYTHON_VERSION ?= 3.11
# pyenv's shims find pythonX.Y only for the selected versions: select it (harmless without pyenv)
PYTHON ?= PYENV_VERSION=$(PYTHON_VERSION) python$(PYTHON_VERSION)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.14.1
TORCHVISION_VERSION ?= 0.29.1
# torch 2.14's headers need C++20; mmcv 2.1.0's setup.py forces C++17 (enough for torch 2.1)
MMCV_CXX_STD ?= c++20
TORCH := torch==$(TORCH_VERSION) torchvision==$(TORCHVISION_VERSION)
COMPAT := VENV=.venv-compat PYTHON_VERSION=3.8 TORCH_VERSION=2.1.2 TORCHVISION_VERSION=0.16.2 \
  MMCV_CXX_STD=c++17
MM := mmdet==3.3.0 mmpretrain==1.2.0
STAMP := $(VENV)/.installed

.PHONY: install test install-compat test-compat demo demo-cls demo-single gpu-check clean-venv soak-ddp soak-fresh \
  docs

install: $(STAMP)

$(STAMP): setup.py requirements/runtime.txt requirements/mminstall.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH)
	# after torch, which pulls a setuptools without pkg_resources (mmcv's setup.py needs it)
	$(PIP) install -q "setuptools<70" wheel ninja "numpy<2"
	# mmengine first (with the runtime pins, one resolver run): it brings mmcv's Python
	# dependencies, so `import mmcv.ops` below tells whether mmcv itself is in place
	$(PIP) install -q mmengine==0.10.7 -r requirements/runtime.txt
	# mmcv 2.1.0 has no wheel here: build it from source with its ops (see the mmcv targets)
	$(PY) -c "import mmcv.ops" 2>/dev/null || $(MAKE) --no-print-directory mmcv
	$(PIP) install -q $(MM) -r requirements/runtime.txt -r requirements/tests.txt
	# this package into the stack as a user does (with its dependencies): it must change nothing
	$(PIP) freeze --exclude-editable > $(VENV)/freeze-before.txt
	$(PIP) install -q --no-build-isolation -e .
	$(PIP) freeze --exclude-editable | diff $(VENV)/freeze-before.txt - \
	  || { echo "pip install -e . changed the stack above"; exit 1; }
	$(PY) -c "import mmcv.ops, mmdet.models, mmpretrain.models, asl_mmdet"
	touch $(STAMP)

# The built wheel is kept per mmcv, torch and Python version (pip's cache is keyed by mmcv's
# version alone, so it would hand back a wheel built against another torch).
MMCV_CACHE := $(HOME)/.cache/asl_mmdet/mmcv-2.1.0-torch$(TORCH_VERSION)-python$(PYTHON_VERSION)
MMCV_BUILD := build/mmcv-$(notdir $(VENV))
MMCV_SRC := $(MMCV_BUILD)/mmcv-2.1.0

.PHONY: mmcv
mmcv:
	if ls $(MMCV_CACHE)/mmcv-*.whl >/dev/null 2>&1; then \
	  $(PIP) install -q --no-deps --force-reinstall $(MMCV_CACHE)/mmcv-*.whl; fi
	$(PY) -c "import mmcv.ops" 2>/dev/null || $(MAKE) --no-print-directory mmcv-build

.PHONY: mmcv-build
mmcv-build:
	rm -rf $(MMCV_BUILD) $(MMCV_CACHE) && mkdir -p $(MMCV_BUILD) $(MMCV_CACHE)
	$(PIP) download -q --no-deps --no-binary :all: --no-build-isolation mmcv==2.1.0 -d $(MMCV_BUILD)
	tar xzf $(MMCV_BUILD)/mmcv-2.1.0.tar.gz -C $(MMCV_BUILD)
	sed -i 's/-std=c++17/-std=$(MMCV_CXX_STD)/g' $(MMCV_SRC)/setup.py
	cd $(MMCV_SRC) && MMCV_WITH_OPS=1 MAX_JOBS=2 $(abspath $(PY)) -m pip wheel -q \
	  --no-build-isolation --no-deps -w $(MMCV_CACHE) .
	$(PIP) install -q --no-deps --force-reinstall $(MMCV_CACHE)/mmcv-*.whl
	rm -rf $(MMCV_BUILD)

test: install
	$(PY) -m pytest tests

# The OpenMMLab wheel stack (what mmcv 2.1.0's prebuilt wheels are built for), in .venv-compat
install-compat:
	$(MAKE) --no-print-directory install $(COMPAT)

test-compat:
	$(MAKE) --no-print-directory test $(COMPAT)

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

# The documentation site (docs/, MyST pages and the API reference from the docstrings) into
# build/docs/html, warnings as errors. Its tools (requirements/docs.txt) go into the venv after
# `make install` and its pip freeze check; the build itself fetches nothing.
DOCS_STAMP := $(VENV)/.docs-installed
DOCS_OUT ?= build/docs/html

$(DOCS_STAMP): $(STAMP) requirements/docs.txt
	$(PIP) install -q -r requirements/docs.txt
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	rm -rf $(DOCS_OUT)
	$(PY) -m sphinx -W --keep-going -E -q -b html docs $(DOCS_OUT)
	@echo "docs: $(DOCS_OUT)/index.html"

demo: install
	$(PY) tools/demo.py

# On a machine with CUDA: the kernel tests at full sizes, tools/benchmarks/loss.py and the
# tools/benchmarks/train.py runs of docs/advanced_guides/benchmarks.md, written into that page.
gpu-check: install
	$(PY) tools/benchmarks/gpu_check.py

demo-cls: install
	$(PY) tools/demo.py --task cls

demo-single: install
	$(PY) tools/demo.py --task single

clean-venv:
	rm -rf $(VENV) .venv-compat
