# The two commands a new user types: `make run` and `make test`.
# Both set everything up (Debian packages, .venv with the package and its extras).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 4000
LAB_PORT ?= 8888
APT_PACKAGES := golang-go hey graphviz chromium chromium-driver iproute2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# JupyterLab refuses to start as root unless told.
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: run test test-notebooks-10x setup system-deps bench clean test-pythons bench-pythons soak-walk pythons-deps

setup: system-deps $(STAMP)

# Go (the oracle of the tests), hey (the reference load generator), Graphviz (SVG graphs),
# Java 17 (Spark, for the fleet's distributed queries), Chromium with its WebDriver (the
# browser tests of the web UI and notebooks); ss (iproute2) shows listen backlogs to a test.
system-deps:
	@missing=""; \
	command -v go >/dev/null || missing="$$missing golang-go"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v hey >/dev/null || missing="$$missing hey"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v ss >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml setup.py pyprofnb/collect/versions.py $(wildcard pyprofnb/collect/engine/*.c pyprofnb/collect/engine/*.h pyprofnb/codec/*.c)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,notebook,fleet,servers]'
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

# Every current CPython: a Debian sid chroot (tools/pythons/chroot.sh, kept in
# /var/cache/pyprofnb-sid and reused) with python3.13-3.15, gcc, its current Go and hey.
# debootstrap builds it; the chroot needs root.
pythons-deps:
	@command -v debootstrap >/dev/null || { echo "installing Debian packages: debootstrap"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq debootstrap >/dev/null; }

# The engine and demo-server endpoint tests on each chroot CPython (3.11 runs in `make test`).
test-pythons: setup pythons-deps
	$(SUDO) bash tools/pythons/matrix.sh

# Engine overhead on each chroot CPython: CPU profiling and heap sampling against no profiling.
bench-pythons: setup pythons-deps
	$(SUDO) env PYTHONS_MODE=bench bash tools/pythons/matrix.sh

# The frame walk under fire for minutes (SOAK_MINUTES, default 5): exec/class/gc/thread churn,
# CPU profiling at 10 kHz, heap sampling at rate 512; `make test` runs 20 s of it.
SOAK_MINUTES ?= 5
soak-walk: setup
	$(PY) benchmarks/soak_walk.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) build *.egg-info pyprofnb/collect/*.so
