# SKA SDP prototype control system — developer entry points.
#   make run    build and start the test Tango device server (nodb) on 127.0.0.1:$(PORT)
#   make test   install what is missing, build, cargo test, then the PyTango interop suite
# See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
PY        := $(VENV)/bin/python
PORT      ?= 45450
# libprotobuf-dev: the google/protobuf/*.proto files protoc needs for etcd-client's build script
# (apt-deps installs without recommends, and protobuf-compiler only recommends them).
# g++: the zmq crate compiles its own libzmq (C++; no libzmq headers or pkg-config needed).
# procps: pgrep and kill, used by tests/ and fresh-check. libtango-tools: tango_admin
# (tests/database; also a dependency of tango-db). libtango-dev: the cppTango 9.3 client library
# tests/database/test_cpp_client.py builds against. g++ and procps are on the usual machine
# image already, but not on a minimal Debian.
APT_PKGS  := protobuf-compiler libprotobuf-dev g++ procps etcd-server etcd-client openssl tango-test mariadb-server dbconfig-no-thanks tango-db libtango-tools libtango-dev
# the server the interop suite drives: rust (our binary) or pytango (reference_device.py)
TANGO_SERVER      ?= rust
TANGO_TEST_BINARY ?= target/debug/TestDevice
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help deps apt-deps venv build test cargo-test interop interop-reference run database-tests fuzz fuzz-corpus fuzz-smoke devices-tests faults-tests fresh-check

help:
	@echo "make run        build and start the test device server on 127.0.0.1:$(PORT) (nodb)"
	@echo "make test       deps + build + cargo test + PyTango interop suite"
	@echo "make deps       apt packages ($(APT_PKGS)) and the Python venv $(VENV)"
	@echo "make devices-tests  SDPSubarray/SDPMaster scenarios with PyTango and a real etcd (after make build)"
	@echo "make faults-tests   fault injection: etcd, device servers, Tango DB, controller, deployer killed (after make build)"
	@echo "make interop-reference   run the interop suite against the PyTango reference server"
	@echo "make database-tests      Tango database suite: embedded, PyTango sqlite, C++ DataBaseds + MariaDB"
	@echo "make fuzz       every cargo-fuzz target for FUZZ_SECONDS (default 600) each -> fuzz/report.md; fuzz-smoke: 20 s each (in make test)"
	@echo "make fresh-check  on a new Debian 12 machine (chroot, needs root): make deps build, then make run until the SDP is up, Ctrl-C"
	@echo "make deploy_all KUBE_NAMESPACE=integration   Helm-install SDP on Kubernetes (see docs/kubernetes.md; also delete_all, show, lint, template, images, charts-test)"

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

$(VENV)/.deps-stamp: tests/interop/requirements.txt tests/workflows/requirements.txt tests/database/requirements.txt
	@test -x $(PY) && $(PY) -c 'import sys' 2>/dev/null || { rm -rf $(VENV); python3 -m venv $(VENV); }
	$(PY) -m pip install -q -r tests/interop/requirements.txt
	$(PY) -m pip install -q -r tests/workflows/requirements.txt  # Dask for the testdask workflow tests
	$(PY) -m pip install -q -r tests/database/requirements.txt   # dsconfig, TangoGQL for the database suite
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

## devices-tests: SDPSubarray/SDPMaster scenarios (A1-A23, B1-B7) with PyTango and a real etcd
devices-tests: venv
	$(VENV)/bin/pytest tests/devices -q

## database-tests: the Tango database suite against each database: our embedded one, PyTango's
## sqlite DataBaseds and Debian's C++ DataBaseds on a throwaway MariaDB (all on 127.0.0.1)
TANGO_DB_KINDS ?= embedded pytango mariadb
database-tests: venv
	@set -e; for kind in $(TANGO_DB_KINDS); do \
	  echo "== database suite against: $$kind"; \
	  TANGO_DB_KIND=$$kind TANGO_TEST_BINARY=$(TANGO_TEST_BINARY) $(VENV)/bin/pytest tests/database -q -p no:cacheprovider; \
	done

test: deps build cargo-test fuzz-smoke interop database-tests devices-tests faults-tests e2e-tests

## faults-tests: issue #11's faults with real processes: etcd stopped/killed/frozen around
## Configure, device servers SIGKILLed and restarted (also while etcd is down), the embedded
## Tango DB SIGKILLed under exported servers, the controller and process deployer SIGKILLed
faults-tests: venv
	$(VENV)/bin/pytest tests/faults -q -p no:cacheprovider

## run: the whole SDP on this machine (sdp up): Tango DB on $(TANGO_PORT), etcd, devices,
## controller, local-process deployer; state in $(STATE_DIR). Ctrl-C stops everything.
TANGO_PORT ?= 10000
ETCD_PORT  ?= 2379
STATE_DIR  ?= .sdp
SUBARRAYS  ?= 1
run: deps build
	PATH="$(CURDIR)/$(VENV)/bin:$(CURDIR)/target/debug:$$PATH" exec target/debug/sdp up --state-dir $(STATE_DIR) \
	  --tango-host 127.0.0.1:$(TANGO_PORT) --etcd-port $(ETCD_PORT) --subarrays $(SUBARRAYS)

## run-test-device: only the interop test device, no database, on 127.0.0.1:$(PORT)
run-test-device: build
	@echo "  device: tango.DeviceProxy('tango://127.0.0.1:$(PORT)/test/device/1#dbase=no')"
	exec $(TANGO_TEST_BINARY) test -nodb -dlist test/device/1 -ORBendPoint giop:tcp:127.0.0.1:$(PORT)

## e2e-tests: sdp up end to end (the README walkthrough with the real clients)
.PHONY: e2e-tests run-test-device
e2e-tests: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/pytest tests/e2e -q

## fuzz: every cargo-fuzz target (fuzz/fuzz_targets: giop_decode, any_decode, ior_parse,
## configure_json, db_mysql_select) for $(FUZZ_SECONDS) s each, one after another, under
## nice, with -rss_limit_mb/-malloc_limit_mb $(FUZZ_MEMORY_MB) so an unbounded allocation is a
## failure; writes fuzz/report.md. fuzz-smoke: the same for $(FUZZ_SMOKE_SECONDS) s each, part
## of `make test`. Both install cargo-fuzz if missing; RUSTC_BOOTSTRAP=1 lets the stable
## toolchain take the -Z flags cargo-fuzz passes. See fuzz/README.md.
FUZZ_SECONDS       ?= 600
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_MEMORY_MB     ?= 256
export FUZZ_MEMORY_MB
fuzz-corpus:
	cargo test -p tango --test fuzz_seeds -- --ignored write_corpus

fuzz: fuzz-corpus
	nice -n 19 fuzz/run.sh $(FUZZ_SECONDS) report.md

fuzz-smoke:
	CARGO_BUILD_JOBS=$${CARGO_BUILD_JOBS:-$$(nproc)} fuzz/run.sh $(FUZZ_SMOKE_SECONDS) logs/smoke-report.md

## fresh-check: what a newcomer does, on a NEW machine: $(FRESH_MACHINE) (needs root) replays
## one in a chroot (a Debian 12 base with only the packages such a machine starts with) on a
## clean clone of this repository's committed HEAD (uncommitted changes are not in it) and runs
## .ci/fresh-up.sh there: `make deps build`, then `make run` on free ports with its state in
## /tmp until "The SDP is up", then SIGINT (Ctrl-C), which must end it with status 0. As CI runs
## (bash -c, CI=true); everything in the machine is killed after $(FRESH_TIMEOUT) s.
# the project's shared folder beside the checkout, else the workplace's (a clone elsewhere)
FRESH_MACHINE ?= $(firstword $(wildcard $(CURDIR)/../shared/tools/fresh-machine.sh /work/shared/tools/fresh-machine.sh) $(CURDIR)/../shared/tools/fresh-machine.sh)
FRESH_TIMEOUT ?= 5400
fresh-check:
	@test -f "$(FRESH_MACHINE)" || { echo "fresh-check: $(FRESH_MACHINE) not found: the new-machine replay tool is needed (FRESH_MACHINE=/path/to/fresh-machine.sh)" >&2; exit 1; }
	bash "$(FRESH_MACHINE)" --no-login -e CI=true --timeout $(FRESH_TIMEOUT) "$(CURDIR)" -- bash .ci/fresh-up.sh

## bench: ours vs cppTango TangoTest vs PyTango, same client and run -> bench/results.md + .png
.PHONY: bench bench-polling bench-tmc
bench: deps
	@dpkg-query -W -f='$${Status}' tango-test 2>/dev/null | grep -q "install ok installed" || \
	  { sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq tango-test; }
	$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install -q matplotlib
	cargo build --release -p tango --bins
	bench/run.sh
	$(PY) bench/polling_cpu.py

## bench-polling: server CPU for polling 100 attributes at 100 ms, our TestDevice vs TangoTest
bench-polling:
	cargo build --release -p tango --bin TestDevice
	$(PY) bench/polling_cpu.py

## bench-tmc: TMC's sequence against the ADR-8 profile on 1 and 16 subarrays, p50/p99 per command
## (also part of make bench; table on stderr, JSON lines on stdout)
bench-tmc: venv
	cargo build --release -p ska-sdp --bin sdp --bin sdpcfg
	cargo build --release -p sdp-devices --bins
	$(PY) bench/tmc_sequence.py --sizes 1,16

# ---- Kubernetes: Helm charts and container images (charts/, Dockerfile, docs/kubernetes.md) ----
# deploy_all/delete_all/show/images need helm, kubectl and docker with a cluster;
# lint, template and charts-test render the charts offline with the Helm SDK in $(VENV).
KUBE_NAMESPACE     ?= default
KUBE_NAMESPACE_SDP ?= $(KUBE_NAMESPACE)-sdp
HELM_RELEASE       ?= test
HELM_CHART         ?= charts/sdp-prototype
HELM_ARGS          ?=
HELM               ?= helm
KUBECTL            ?= kubectl
DOCKER             ?= docker
IMAGE_REGISTRY     ?= localhost:5000
IMAGE_TAG          ?= 0.1.0
IMAGE_TARGETS      := runtime:ska-sdp itango:ska-sdp-itango \
                      workflow-testdask:ska-sdp-workflow-testdask workflow-testdeploy:ska-sdp-workflow-testdeploy \
                      workflow-teststate:ska-sdp-workflow-teststate workflow-vis-receive:ska-sdp-workflow-vis-receive
RENDER             := $(PY) tests/charts/render.py

.PHONY: namespace namespace_sdp deploy_all delete_all show lint template images push-images charts-test

namespace:
	$(KUBECTL) create namespace $(KUBE_NAMESPACE) --dry-run=client -o yaml | $(KUBECTL) apply -f -

namespace_sdp:
	$(KUBECTL) create namespace $(KUBE_NAMESPACE_SDP) --dry-run=client -o yaml | $(KUBECTL) apply -f -

## deploy_all: SDP in $(KUBE_NAMESPACE), its workflows in $(KUBE_NAMESPACE_SDP) (install or upgrade)
deploy_all: namespace namespace_sdp
	$(HELM) upgrade --install $(HELM_RELEASE) $(HELM_CHART) --namespace $(KUBE_NAMESPACE) \
	  --set global.helmNamespace=$(KUBE_NAMESPACE_SDP) \
	  --set global.image.registry=$(IMAGE_REGISTRY) --set global.image.tag=$(IMAGE_TAG) $(HELM_ARGS)

## delete_all: the release, and whatever the Helm deployer left in $(KUBE_NAMESPACE_SDP)
delete_all:
	-$(HELM) uninstall $(HELM_RELEASE) --namespace $(KUBE_NAMESPACE)
	-$(HELM) list -q --namespace $(KUBE_NAMESPACE_SDP) | xargs -r $(HELM) uninstall --namespace $(KUBE_NAMESPACE_SDP)
	@echo "Namespaces $(KUBE_NAMESPACE) and $(KUBE_NAMESPACE_SDP) and the etcd/Tango DB volumes are kept:"
	@echo "  $(KUBECTL) delete pvc -n $(KUBE_NAMESPACE) -l app.kubernetes.io/instance=$(HELM_RELEASE)"

show:
	$(HELM) status $(HELM_RELEASE) --namespace $(KUBE_NAMESPACE)
	$(KUBECTL) get all,configmap,pvc -n $(KUBE_NAMESPACE) -l app.kubernetes.io/instance=$(HELM_RELEASE)
	$(KUBECTL) get all -n $(KUBE_NAMESPACE_SDP)

lint: venv
	$(RENDER) --lint-only $(HELM_CHART) charts/workflow

## template: the manifests deploy_all would apply, rendered offline
template: venv
	@$(RENDER) $(HELM_CHART) --release $(HELM_RELEASE) --namespace $(KUBE_NAMESPACE) \
	  --set global.helmNamespace=$(KUBE_NAMESPACE_SDP)

images:
	@set -e; for t in $(IMAGE_TARGETS); do \
	  echo "== $${t#*:}"; $(DOCKER) build --target $${t%%:*} -t $(IMAGE_REGISTRY)/$${t#*:}:$(IMAGE_TAG) .; done

push-images: images
	@set -e; for t in $(IMAGE_TARGETS); do $(DOCKER) push $(IMAGE_REGISTRY)/$${t#*:}:$(IMAGE_TAG); done

## charts-test: part of make test (this extra prerequisite runs after the others)
test: charts-test
charts-test: venv
	$(VENV)/bin/pytest tests/charts -q
# ---- end of Kubernetes section ----

## soak: 64 connections x 10 000 mixed requests per round against a release build (no error,
## memory flat); the interop suite runs the same test with 1 000 per connection
.PHONY: soak
soak: venv
	cargo build --release -p tango --bins
	LOAD_REQUESTS=10000 LOAD_WARMUP=3 TANGO_TEST_BINARY=target/release/TestDevice TANGO_LOADGEN=target/release/tango-loadgen \
	  $(VENV)/bin/pytest tests/interop/test_load.py -q -s
