# SKA SDP prototype control system — developer entry points.
#   make run    build and start the test Tango device server (nodb) on 127.0.0.1:$(PORT)
#   make test   install what is missing, build, cargo test, then the PyTango interop suite
# See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
PORT      ?= 45450
APT_PKGS  := protobuf-compiler etcd-server etcd-client
# the server the interop suite drives: rust (our binary) or pytango (reference_device.py)
TANGO_SERVER      ?= rust
TANGO_TEST_BINARY ?= target/debug/TestDevice
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help deps apt-deps venv build test cargo-test interop interop-reference run fuzz fuzz-corpus

help:
	@echo "make run        build and start the test device server on 127.0.0.1:$(PORT) (nodb)"
	@echo "make test       deps + build + cargo test + PyTango interop suite"
	@echo "make deps       apt packages ($(APT_PKGS)) and the Python venv $(VENV)"
	@echo "make interop-reference   run the interop suite against the PyTango reference server"
	@echo "make fuzz       cargo-fuzz the GIOP/CDR decoders for FUZZ_SECONDS (default 60); see fuzz/README.md"

## deps: apt packages that are missing (only those), and the venv (only when out of date)
deps: apt-deps venv

apt-deps:
	@missing=""; \
	for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "deps: installing$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "deps: apt packages present"; \
	fi

venv: $(VENV)/.deps-stamp

$(VENV)/.deps-stamp: tests/interop/requirements.txt tests/workflows/requirements.txt
	@test -x $(PY) && $(PY) -c 'import sys' 2>/dev/null || { rm -rf $(VENV); python3 -m venv $(VENV); }
	$(PY) -m pip install -q -r tests/interop/requirements.txt
	$(PY) -m pip install -q -r tests/workflows/requirements.txt  # Dask for the testdask workflow tests
	@$(PY) -c 'import tango; assert tango.__version__ == "10.3.1", tango.__version__'
	@touch $@

## build: every binary of the workspace (the test device server among them)
build:
	cargo build --workspace --bins

cargo-test:
	cargo test --workspace

## interop: the pytest suite driving our server with the real PyTango client
interop: venv
	TANGO_SERVER=$(TANGO_SERVER) TANGO_TEST_BINARY=$(TANGO_TEST_BINARY) $(VENV)/bin/pytest tests/interop -q

## interop-reference: the same suite against the PyTango reference server (checks the suite)
interop-reference: venv
	TANGO_SERVER=pytango $(VENV)/bin/pytest tests/interop -q

test: deps build cargo-test interop

run: build
	@echo "Starting TestDevice (instance 'test', no database) on 127.0.0.1:$(PORT). Ctrl-C stops it."
	@echo "  device: tango.DeviceProxy('tango://127.0.0.1:$(PORT)/test/device/1#dbase=no')"
	@echo "  admin:  tango.DeviceProxy('tango://127.0.0.1:$(PORT)/dserver/TestDevice/test#dbase=no')"
	@echo "  client: $(VENV)/bin/itango   (after 'make deps')"
	exec $(TANGO_TEST_BINARY) test -nodb -dlist test/device/1 -ORBendPoint giop:tcp:127.0.0.1:$(PORT)

## fuzz: the cargo-fuzz target giop_decode for $(FUZZ_SECONDS) s. Needs cargo-fuzz
## (`cargo install cargo-fuzz`); on a stable toolchain RUSTC_BOOTSTRAP=1 enables the
## nightly-only -Z sanitizer flags cargo-fuzz passes. The corpus starts from the captures.
FUZZ_SECONDS ?= 60
fuzz-corpus:
	cargo test -p tango --test fuzz_seeds -- --ignored write_corpus

fuzz: fuzz-corpus
	@command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
	cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run giop_decode corpus/giop_decode seeds/giop_decode -- \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048
