#!/usr/bin/env bash
# Install the Debian packages named (default: what a private Docker engine needs) that are missing.
# Runs `apt-get update` only when something is missing.
set -euo pipefail

[ $# -gt 0 ] || set -- docker.io busybox-static iptables iproute2

# A command that is already there counts as installed: a machine with docker-ce has no docker.io
# package, and installing docker.io next to it would conflict.
have() {
  dpkg -s "$1" >/dev/null 2>&1 && return 0
  case $1 in
    docker.io) command -v dockerd && command -v docker ;;
    iproute2) command -v ip ;;
    iptables | make | git) command -v "$1" ;;
    python3) command -v python3 ;;
    etcd-server) command -v etcd ;;
    etcd-client) command -v etcdctl ;;
    *) false ;;
  esac >/dev/null 2>&1
}

missing=()
for pkg in "$@"; do have "$pkg" || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
