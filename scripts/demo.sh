#!/usr/bin/env bash
# `make demo`: a manager and two agents on this machine, sharing one Docker engine, running a
# 3-replica service. Logs, pids and state live in ./.demo; `make demo-stop` undoes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$root/.demo
bin=$root/.venv/bin
# The client bundle `manager serve` writes; the client finds it through SHOAL_CONFIG.
# Its three nodes share this host's network namespace: no routing mesh (see common/mesh_flag.py).
export SHOAL_ROUTING_MESH=0
export SHOAL_HOST=127.0.0.1:7462 SHOAL_CONFIG=$demo/manager/admin
not_running='new|pending|assigned|accepted|preparing|starting|complete|failed|shutdown|rejected|orphaned|remove'

# The pid in pid file $1, if that process is still one of ours (pids of a dead demo get reused).
ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -e "$bin/manager " -e "$bin/agent " && echo "$pid"
}
show() {
  echo "--- shoal node ls"; "$bin/shoal" node ls || true
  echo "--- shoal service ps demo"; "$bin/shoal" service ps demo || true
}
fail() {
  echo "demo: $1" >&2
  [ -z "${2:-}" ] || { echo "--- last lines of ${2#"$root/"}:" >&2; tail -n 20 "$2" >&2; }
  echo "Clean up with: make demo-stop" >&2
  exit 1
}
# wait_for SECONDS WHAT LOG CMD...: poll CMD until it succeeds, while the daemons stay alive.
wait_for() {
  local secs=$1 what=$2 log=$3 f
  shift 3
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    for f in "$demo"/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || fail "$(basename "$f" .pid) exited" "${f%.pid}.log"; done
    [ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for $what" "$log"
    sleep 0.5
  done
}
nodes_ready() { [ "$("$bin/shoal" node ls | grep -ciw ready)" -ge 3 ]; }
# `service ps` may show the desired state too, so a line counts only with no other state in it.
tasks_running() { [ "$("$bin/shoal" service ps demo | grep -iw running | grep -civwE "$not_running")" -ge 3 ]; }
start() { # start NAME CMD...
  local name=$1
  shift
  nohup "$@" >"$demo/$name.log" 2>&1 &
  echo $! >"$demo/$name.pid"
}

for f in "$demo"/manager.pid "$demo"/agent-*.pid; do
  if ours "$f" >/dev/null; then
    echo "A demo is already running (pids in .demo/*.pid):"
    show
    echo "Stop it with: make demo-stop"
    exit 0
  fi
done
if [ -d "$demo" ]; then
  echo "== Cleaning up the remains of an earlier demo"
  scripts/demo-stop.sh
fi

echo "== Packages and venv"
scripts/deps.sh docker.io busybox-static iptables iproute2
make --no-print-directory venv
mkdir -p "$demo"

echo "== Docker engine"
if host=$(scripts/engine.sh find); then
  echo "using the engine at $host"
else
  host=$(scripts/engine.sh start "$demo/engine")
  echo "started a private engine at $host (log: .demo/engine/dockerd.log)"
fi
export DOCKER_HOST=$host
echo "$host" >"$demo/docker-host"
docker image inspect local/busybox:latest >/dev/null 2>&1 || scripts/engine.sh image

echo "== Manager (log: .demo/manager.log)"
start manager "$bin/manager" serve --listen 127.0.0.1:7462 --advertise 127.0.0.1 --state-dir "$demo/manager"
wait_for 30 "the manager to answer (shoal node ls)" "$demo/manager.log" "$bin/shoal" node ls
head -n 5 "$demo/manager.log"

echo "== Two agents (logs: .demo/agent-N.log)"
token=$("$bin/shoal" join-token worker -q) || fail "shoal join-token worker -q failed"
for n in 1 2; do
  start "agent-$n" "$bin/agent" join "$token" 127.0.0.1:7462 --state-dir "$demo/agent-$n" --hostname "demo-worker-$n"
done
wait_for 30 "3 nodes to be Ready" "$demo/manager.log" nodes_ready

echo "== Service demo: 3 replicas"
# create prints the service's ID, then its progress until the 3 replicas run.
"$bin/shoal" service create --name demo --replicas 3 local/busybox:latest sleep 1000000 | tee "$demo/create.out" ||
  fail "shoal service create failed" "$demo/manager.log"
head -n 1 "$demo/create.out" >"$demo/service.id"
wait_for 60 "3 tasks of service demo to be Running" "$demo/manager.log" tasks_running
show
printf "\nThe demo runs. Try: SHOAL_CONFIG=.demo/manager/admin .venv/bin/shoal service ls\nStop everything with: make demo-stop\n"
