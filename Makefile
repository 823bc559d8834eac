# Shoal: build, check, test and demo. `make test` is all a new user needs (Debian 12, as root).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The protoc plugins from mypy-protobuf live in the venv's bin.
GEN := PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) scripts/gen_proto.py
PYTEST_ARGS ?=
# pytest-xdist workers for `make test`: the lab's e2e tests on one, the modules spread over the
# others (tests/conftest.py groups them).
TEST_WORKERS ?= 3

.PHONY: venv proto proto-check lint typecheck check test bench bench-scheduler bench-heal bench-mesh
.PHONY: bench-overlay bench-dns bench-store bench-failover bench-scale soak demo demo-stop

venv: $(STAMP)

# Reinstalls only when the venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
	  rm -rf $(VENV); \
	  if ! python3 -m venv $(VENV); then \
	    echo "python3 -m venv failed: installing python3-venv"; rm -rf $(VENV); \
	    scripts/deps.sh python3-venv && python3 -m venv $(VENV); \
	  fi; \
	fi
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $@

proto: venv
	$(GEN)

proto-check: venv
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	{ out=$$($(GEN) "$$tmp" 2>&1) || { echo "$$out" >&2; exit 1; }; } && \
	if ! diff -r -q -x __pycache__ "$$tmp" common/api >/dev/null; then \
	  echo "generated code is stale: run make proto" >&2; exit 1; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

check: lint typecheck proto-check

# The etcd store's tests start an etcd member of their own (and compact it with etcdctl); the
# registry tests a docker-registry of their own. The slowest tests are listed at the end: the
# suite must stay under 20 minutes.
test: venv
	scripts/deps.sh etcd-server etcd-client docker-registry
	scripts/with-engine.sh $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=25 \
	  $(PYTEST_ARGS)

bench: venv
	scripts/deps.sh etcd-server
	scripts/with-engine.sh $(PY) -m bench.create_replicas $(BENCH_ARGS)

# Commits per second of the two state stores, SQLite and etcd (a member of its own), side by side.
bench-store: venv
	scripts/deps.sh etcd-server
	$(PY) -m bench.store $(BENCH_ARGS)

# The scheduler alone, no engine: 1,000 to 100,000 tasks on 1,000 nodes.
bench-scheduler: venv
	$(PY) -m bench.scheduler $(BENCH_ARGS)

# A real manager and hollow nodes (`agent hollow`) at 1,000 / 5,000 / 10,000 nodes; needs an engine
# for the manager's own (drained) node. BENCH_ARGS="--sizes 1000 --tasks 10000" for a quick one.
bench-scale: venv
	scripts/with-engine.sh $(PY) -m bench.scale $(BENCH_ARGS)

# In the multi-host lab (root): node loss and container kill, Shoal beside Docker Swarm.
bench-heal: venv
	$(PY) -m bench.self_healing $(BENCH_ARGS)

# In the multi-host lab (root): requests/s and p99 through the routing mesh vs straight to a replica.
# gcc and libc6-dev (a static libc) build the replicas' server, bench/replica_server.c.
bench-mesh: venv
	scripts/deps.sh wrk gcc libc6-dev
	flock /tmp/shoal-lab.lock $(PY) -m bench.mesh $(BENCH_ARGS)
# In the multi-host lab (root): container to container through a cluster network vs host to host.
bench-overlay: venv
	$(PY) -m bench.overlay $(BENCH_ARGS)

# In the multi-host lab (root): kill -9 of the leading manager of 3, until a write is accepted and
# until a service sent at the kill runs (Docker Swarm's figures; see bench/failover.py).
bench-failover: venv
	scripts/deps.sh docker.io busybox-static iptables iproute2 etcd-server etcd-client
	flock /tmp/shoal-lab.lock $(PY) -m bench.failover $(BENCH_ARGS)

# In the multi-host lab (root): a chaos soak of three managers on etcd, 10 minutes (bench/soak.py);
# BENCH_ARGS="--duration 60 --seed N" for a minute, or to replay a run by its seed.
soak: venv
	scripts/deps.sh docker.io busybox-static iptables iproute2 etcd-server etcd-client
	flock /tmp/shoal-lab.lock $(PY) -m bench.soak $(BENCH_ARGS)

bench-dns: venv
	$(PY) -m bench.dns_flood $(BENCH_ARGS)

demo:
	scripts/demo.sh

demo-stop:
	scripts/demo-stop.sh
