#!/usr/bin/env bash
# A multi-host lab on this machine, for people: `scripts/lab.sh up [N]` brings up N hosts (network
# namespaces, a dockerd each, the manager on h1 and agents on the others); `down` removes it all.
# The e2e tests use the same code (tests/lab.py) as a pytest fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "lab.sh: needs root (network namespaces, dockerd)" >&2; exit 1; }
make -s venv
scripts/deps.sh docker.io busybox-static iptables iproute2
exec .venv/bin/python -m tests.lab "$@"
