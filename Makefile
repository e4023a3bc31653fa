# Two commands do everything on a fresh machine: `make lab` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A GPU user may pick another build, e.g. TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
PORT ?= 8888
PYTEST_ARGS ?=

.PHONY: install lab test lint unit notebooks browser chromium execute-notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

install: $(STAMP)

# The token travels in the environment (JUPYTER_TOKEN), never on a command line where any
# local user could read it with `ps`.
lab: install
	@JUPYTER_TOKEN=$$($(BIN)/python -c "import secrets; print(secrets.token_hex(24))"); \
	export JUPYTER_TOKEN; \
	echo ""; echo "  JupyterLab: http://127.0.0.1:$(PORT)/lab?token=$$JUPYTER_TOKEN"; echo ""; \
	exec $(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) \
		--ServerApp.port_retries=0 --ServerApp.root_dir=notebooks \
		$$( [ "$$(id -u)" = 0 ] && echo --allow-root )

# Debian's chromium drives the browser tests; Playwright never downloads its own.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(BIN)/ruff check lab tests bench scripts

test: install chromium lint
	NUMBA_ENABLE_CUDASIM=$${NUMBA_ENABLE_CUDASIM:-0} $(BIN)/python -m pytest -q --durations=20 \
		--doctest-modules lab tests \
		--nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg \
		$(PYTEST_ARGS)

# Re-execute every notebook in place (outputs kept, widget state stripped) after changing one.
execute-notebooks: install
	$(BIN)/python scripts/execute_notebooks.py notebooks/*.ipynb

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
