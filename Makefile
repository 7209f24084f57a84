# The two commands a new user types: `make run` and `make test`.
# Both set everything up (Debian packages, .venv with the package and its extras).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 4000
LAB_PORT ?= 8888
APT_PACKAGES := golang-go hey graphviz chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# JupyterLab refuses to start as root unless told.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: run test test-notebooks-10x setup system-deps bench clean

setup: system-deps $(STAMP)

# Go (the oracle of the tests), hey (the reference load generator), Graphviz (SVG graphs)
# and Chromium with its WebDriver (the browser tests of the web UI and notebooks).
system-deps:
	@missing=""; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	command -v hey >/dev/null || missing="$$missing hey"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml setup.py $(wildcard pyprofnb/collect/engine/*.c pyprofnb/collect/engine/*.h)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,notebook]'
	touch $(STAMP)

test: setup
	$(PY) -m pytest tests --nbval notebooks -p no:cacheprovider

# Each tutorial notebook ten times in a row, as `make test` runs it once (nbval, outputs
# compared), checking that no server outlives a run. Not part of `make test`: ~20-30 min.
test-notebooks-10x: setup
	PYPROFNB_NOTEBOOK_REPEAT=10 $(PY) -m pytest tests/integration/test_notebooks_repeat.py -p no:cacheprovider -s

run: setup
	$(PY) -m demo_server --host $(HOST) --port $(PORT) & echo $$! > .demo_server.pid; \
	trap 'kill $$(cat .demo_server.pid) 2>/dev/null; rm -f .demo_server.pid' EXIT INT TERM; \
	$(VENV)/bin/jupyter lab $(LAB_ROOT) --ServerApp.ip=127.0.0.1 --port $(LAB_PORT) --notebook-dir notebooks \
	  --LabApp.default_url=/lab/tree/01-load.ipynb

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info pyprofnb/collect/*.so
