#!/usr/bin/env bash
# with-engine.sh CMD...: run CMD with DOCKER_HOST set to a Docker engine that answers: $DOCKER_HOST
# (or the default socket, or a dockerd already running here), else a private engine started for CMD
# alone and always stopped afterwards. Makes sure local/busybox:latest exists there.
# Exits with CMD's exit code.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: with-engine.sh CMD..." >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)

dir= # set only once we start an engine: we never stop one we did not start
cleanup() {
  [ -n "$dir" ] || return 0
  "$here/engine.sh" stop "$dir" || echo "with-engine.sh: could not stop the engine in $dir" >&2
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v docker >/dev/null || "$here/deps.sh" docker.io
if host=$("$here/engine.sh" find); then
  export DOCKER_HOST=$host
else
  command -v dockerd >/dev/null || "$here/deps.sh" docker.io iptables iproute2
  dir=$(mktemp -d -t shoal-engine.XXXXXX)
  DOCKER_HOST=$("$here/engine.sh" start "$dir")
  export DOCKER_HOST
  echo "with-engine.sh: started a private engine at $DOCKER_HOST" >&2
fi

if ! docker image inspect local/busybox:latest >/dev/null 2>&1; then
  # The image is FROM scratch: only a statically linked busybox runs in it.
  dpkg -s busybox-static >/dev/null 2>&1 || "$here/deps.sh" busybox-static
  "$here/engine.sh" image
fi

set +e
"$@"
rc=$?
set -e
exit "$rc"
