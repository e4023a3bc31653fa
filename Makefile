# Two commands do everything on a fresh machine: `make lab` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A GPU user may pick another build, e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PORT ?= 8888
PYTEST_ARGS ?=
# Every Python package except torch is pinned here; `make lock` refreshes it (README: Versions).
CONSTRAINTS := constraints.txt
NBVAL := --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg -p tests.nbval_figures
# Narrower SIMD paths and one thread: a notebook number that depends on the CPU fails here.
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
AVX2 := ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
NO_SIMD := ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41

.PHONY: install lab test lint notebooks-cross debian-packages recordings-hint execute-notebooks lock clean gallery

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[test]"
	touch $@

install: $(STAMP)

# The token travels in the environment (JUPYTER_TOKEN), never on a command line where any
# local user could read it with `ps`.
lab: install recordings-hint
	@JUPYTER_TOKEN=$$($(BIN)/python -c "import secrets; print(secrets.token_hex(24))"); \
	export JUPYTER_TOKEN; \
	echo ""; echo "  JupyterLab: http://127.0.0.1:$(PORT)/lab?token=$$JUPYTER_TOKEN"; echo ""; \
	exec $(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.port_retries=0 --ServerApp.root_dir=notebooks \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Debian packages the tests need: chromium drives the browser tests (Playwright never
# downloads its own); pocketsphinx-testdata and alsa-utils hold the real human recordings
# (with transcripts) that lab.data.real lists. Installed with apt only when missing.
DEBIAN_PACKAGES := chromium pocketsphinx-testdata alsa-utils
debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	[ -z "$$missing" ] || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; }

# The real recordings are optional for `make lab`: say how to get them when they are missing.
recordings-hint:
	@[ -d /usr/share/pocketsphinx/test/data ] && [ -d /usr/share/sounds/alsa ] || \
		echo "  (real recordings for notebook 07: sudo apt-get install pocketsphinx-testdata alsa-utils)"

lint: install
	$(BIN)/ruff check lab tests bench scripts

test: install debian-packages lint
	NUMBA_ENABLE_CUDASIM=$${NUMBA_ENABLE_CUDASIM:-0} $(BIN)/python -m pytest -q --durations=20 \
		--doctest-modules lab tests $(NBVAL) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory notebooks-cross

# The notebooks again on AVX2 and on plain (non-SIMD) kernels, one thread each.
notebooks-cross: install
	$(AVX2) $(ONE_THREAD) $(BIN)/python -m pytest -q -p no:cacheprovider $(NBVAL)
	$(NO_SIMD) $(ONE_THREAD) $(BIN)/python -m pytest -q -p no:cacheprovider $(NBVAL)

# Re-execute every notebook in place (outputs kept, widget state stripped) after changing one.
execute-notebooks: install
	$(BIN)/python scripts/execute_notebooks.py notebooks/*.ipynb

# docs/<panel>.png: screenshots of every panel, taken by the browser tests (README gallery).
gallery: install debian-packages
	LAB_DOCS_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/browser/test_mfcc.py tests/browser/test_interpret.py tests/browser/test_dependency.py \
		tests/browser/test_alignment.py tests/browser/test_piq.py tests/browser/test_attribution.py \
		tests/browser/test_your_model.py tests/browser/test_scan.py

# Refresh constraints.txt: resolve the newest releases of every dependency (all extras) in a
# scratch venv next to $(TORCH_SPEC) and freeze them. Review the diff, run `make test`, commit.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q $(TORCH_SPEC)
	.lock-venv/bin/python -m pip install -q -e ".[$$(.lock-venv/bin/python scripts/extras.py)]"
	{ echo "# Pinned by \`make lock\`. Not here: torch (TORCH_SPEC picks its build) and the"; \
	  echo "# nvidia-* / cuda-toolkit wheels, which a CUDA build of torch pins itself."; \
	  .lock-venv/bin/python -m pip freeze --all --exclude-editable \
	    | grep -v -i -E '^(torch|triton|nvidia-[a-z0-9-]+|cuda-toolkit)[=-]'; } > $(CONSTRAINTS)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
