#!/usr/bin/env bash
# `make demo-stop`: undo `make demo`: its service, daemons, containers, the engine if the demo
# started it, and ./.demo. Keeps going past errors to clean up as much as it can.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=$root/.demo
bin=$root/.venv/bin
# The client bundle `manager serve` writes; the client finds it through SHOAL_CONFIG.
export SHOAL_HOST=127.0.0.1:7462 SHOAL_CONFIG=$demo/manager/admin
[ -d "$demo" ] || { echo "No demo to stop."; exit 0; }

ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -e "$bin/manager " -e "$bin/agent " && echo "$pid"
}

# Services of the demo cluster, to find their containers on a shared engine after the manager is gone.
services=$(cat "$demo/service.id" 2>/dev/null)
if ours "$demo/manager.pid" >/dev/null; then
  services+=" $(timeout 10 "$bin/shoal" service ls -q 2>/dev/null)"
  timeout 30 "$bin/shoal" service rm demo >/dev/null 2>&1 && echo "removed service demo"
fi

pids=()
for f in "$demo"/agent-*.pid "$demo"/manager.pid; do pid=$(ours "$f") && pids+=("$pid"); done
if [ ${#pids[@]} -gt 0 ]; then
  echo "stopping pids ${pids[*]}"
  kill "${pids[@]}" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "${pids[@]}" 2>/dev/null || break; sleep 0.1; done
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -9 "$pid"; done
fi

if [ -f "$demo/docker-host" ]; then
  export DOCKER_HOST
  DOCKER_HOST=$(cat "$demo/docker-host")
  # On an engine the demo started every Shoal container is the demo's; on a shared one (say a
  # developer's engine that tests also use) only those of the demo cluster's services are.
  if [ -d "$demo/engine" ]; then
    filters=(label=shoal.service.id)
  else
    filters=()
    for id in $services; do filters+=("label=shoal.service.id=$id"); done
  fi
  for f in "${filters[@]}"; do
    ids=$(timeout 10 docker ps -aq --filter "$f" 2>/dev/null)
    [ -z "$ids" ] || { echo "removing containers $(echo $ids)"; timeout 60 docker rm -f $ids >/dev/null; }
  done
fi

if [ -d "$demo/engine" ]; then
  echo "stopping the demo's engine"
  scripts/engine.sh stop "$demo/engine"
fi
rm -rf "$demo"
echo "demo stopped"
