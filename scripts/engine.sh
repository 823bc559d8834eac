#!/usr/bin/env bash
# Start or stop a private Docker engine on its own paths, so it never collides with a system dockerd.
#   scripts/engine.sh start DIR   -> prints the DOCKER_HOST to use
#   scripts/engine.sh stop DIR
#   scripts/engine.sh image       -> builds local/busybox:latest FROM scratch on $DOCKER_HOST
#   scripts/engine.sh find        -> prints the DOCKER_HOST of an engine that already answers
#                                    ($DOCKER_HOST, else the default socket, else any dockerd
#                                    running in this network namespace); exits 1 when none does
set -euo pipefail

cmd=${1:?usage: engine.sh start|stop DIR | image | find}

answers() { DOCKER_HOST=$1 timeout 10 docker version >/dev/null 2>&1; }

# DOCKER_HOST of each dockerd running in this network namespace (read from /proc: no procps needed).
local_engines() {
  local self d args host
  self=$(readlink /proc/self/ns/net)
  for d in /proc/[0-9]*; do
    [ "$(cat "$d/comm" 2>/dev/null)" = dockerd ] || continue
    [ "$(readlink "$d/ns/net" 2>/dev/null)" = "$self" ] || continue
    args=$(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
    host=$(sed -nE 's#.*(-H|--host)[ =](unix://[^ ]+).*#\2#p' <<<"$args")
    echo "${d#/proc/} ${host:-unix:///var/run/docker.sock}"
  done
}

find_engine() {
  local host pid
  host=${DOCKER_HOST:-unix:///var/run/docker.sock}
  if answers "$host"; then echo "$host"; return; fi
  while read -r pid host; do
    if answers "$host"; then echo "$host"; return; fi
  done < <(local_engines)
  return 1
}

start() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local sock="unix://$dir/docker.sock"
  if answers "$sock"; then echo "$sock"; return; fi
  # Two dockerds in one network namespace share docker0 and its 172.17.0.0/16 (containers of both
  # get the same addresses), and the second one flushes the first one's iptables DOCKER chains
  # (seen here: published ports of the first engine stop forwarding). Refuse unless told to.
  local other
  other=$(local_engines | sed -n 1p) # sed reads it all: head would end it with SIGPIPE (exit 141)
  if [ -n "$other" ] && [ "${SHOAL_ENGINE_SHARE_NETNS:-}" != 1 ]; then
    echo "engine.sh: a dockerd already runs in this network namespace (pid/DOCKER_HOST: $other);" \
      "use it, or start this one in its own namespace (nsenter --net=/run/netns/NAME ...)," \
      "or set SHOAL_ENGINE_SHARE_NETNS=1 to start it anyway" >&2
    exit 1
  fi
  # setsid: the engine must not get the caller's Ctrl-C; whoever started it stops it with `stop`.
  setsid dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "$sock" \
    --pidfile "$dir/docker.pid" </dev/null >"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 300); do
    if answers "$sock"; then echo "$sock"; return; fi
    sleep 0.1
  done
  echo "dockerd did not answer within 30 s; see $dir/dockerd.log" >&2
  tail -5 "$dir/dockerd.log" >&2
  exit 1
}

# Kill PID only if it is still the process we mean (a stale pid file may name an unrelated process).
stop_pid() {
  local pid=$1 name=$2 dir=$3
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/" || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop() {
  local dir=$1
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  local sock="unix://$dir/docker.sock"
  local ids
  ids=$(DOCKER_HOST=$sock timeout 10 docker ps -aq 2>/dev/null || true)
  [ -n "$ids" ] && DOCKER_HOST=$sock timeout 60 docker rm -f $ids >/dev/null 2>&1 || true
  [ -f "$dir/docker.pid" ] && stop_pid "$(cat "$dir/docker.pid")" dockerd "$dir"
  # dockerd stops its containerd when it exits cleanly; not when it had to be killed.
  [ -f "$dir/exec/containerd/containerd.pid" ] &&
    stop_pid "$(cat "$dir/exec/containerd/containerd.pid")" containerd "$dir"
  # dockerd leaves mounts under its roots; unmount before removing.
  awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
}

image() {
  local ctx out
  ctx=$(mktemp -d)
  cp /bin/busybox "$ctx/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\nCMD ["/bin/sh"]\n' >"$ctx/Dockerfile"
  # The legacy builder (no buildx here) warns on every build; show its output only on failure.
  if ! out=$(DOCKER_BUILDKIT=0 docker build -q -t local/busybox:latest "$ctx" 2>&1); then
    echo "$out" >&2
    rm -rf "$ctx"
    exit 1
  fi
  rm -rf "$ctx"
}

case "$cmd" in
  start) start "${2:?DIR}" ;;
  stop) stop "${2:?DIR}" ;;
  image) image ;;
  find) find_engine ;;
  *) echo "usage: engine.sh start|stop DIR | image | find" >&2; exit 2 ;;
esac
