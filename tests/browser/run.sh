#!/usr/bin/env bash
# Browser end-to-end test of the web client.
#   tests/browser/run.sh                 embedded mode (a throwaway SQLite server on a free port in 8100-8109),
#                                        then stack mode (notifier, api, gateway on PostgreSQL and Redis)
#   MODE=embedded|stack tests/browser/run.sh          one of the two
#   NEONCHAT_URL=http://host:port [NEONCHAT_WS=ws://host:port/ws] tests/browser/run.sh   a server already running
# Stack mode uses the database of BROWSER_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/neonchat_browser,
# dropped afterwards) and Redis db 13 of 127.0.0.1:6379 (BROWSER_REDIS_URL), flushed before and after.
# Needs Node >= 20 and npm; installs Debian's chromium with apt-get when /usr/bin/chromium is missing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CHROMIUM_PATH

if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "run.sh: installing chromium" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

cd "$HERE"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
rm -f screenshots/failure-*.png

PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="python3"
MODE="${MODE:-both}"
SHOTS_BASE="${SCREENSHOT_DIR:-$HERE/screenshots}"

port_free() { "$PY" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null; }
any_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

WORK="$(mktemp -d -t neonchat-browser.XXXXXX)"
PIDS=()
STACK_DB=""
stop_servers() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_servers
  if [ -n "$STACK_DB" ]; then
    "$PY" "$HERE/stack_db.py" drop "$STACK_DB" "$BROWSER_REDIS_URL" || true
  fi
  if [ "${KEEP_LOG:-}" = "1" ]; then echo "server logs: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_live() {  # url log pid
  local url="$1" log="$2" pid="$3"
  for _ in $(seq 1 150); do
    if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$url/health/live" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log" >&2; echo "run.sh: server died ($log)" >&2; return 1; fi
    sleep 0.2
  done
  cat "$log" >&2; echo "run.sh: server not up ($url)" >&2; return 1
}

run_spec() {  # name url ws screenshot-dir
  local status=0
  echo "== browser test, $1 mode"
  (cd "$HERE" && NEONCHAT_URL="$2" NEONCHAT_WS="$3" SCREENSHOT_DIR="$4" node chat.spec.mjs) || status=$?
  if [ "$status" -ne 0 ]; then
    for log in "$WORK"/*.log; do echo "---- $log (last 40 lines) ----" >&2; tail -n 40 "$log" >&2 || true; done
  fi
  return "$status"
}

run_embedded() {
  local port=""
  for candidate in 8100 8101 8102 8103 8104 8105 8106 8107 8108 8109; do
    if port_free "$candidate"; then port="$candidate"; break; fi
  done
  [ -n "$port" ] || { echo "run.sh: no free port in 8100-8109" >&2; return 1; }
  # Embedded mode with a throwaway SQLite file: never touches var/neonchat.sqlite3.
  (
    cd "$ROOT"
    export DATABASE_URL="" REDIS_URL="" NOTIFIER_ADDR="" SQLITE_PATH="$WORK/neonchat.sqlite3"
    "$PY" manage.py migrate --noinput -v 0
    exec "$PY" manage.py serve --host 127.0.0.1 --port "$port" >"$WORK/embedded.log" 2>&1
  ) &
  PIDS+=($!)
  wait_live "http://127.0.0.1:$port" "$WORK/embedded.log" "${PIDS[-1]}"
  run_spec embedded "http://127.0.0.1:$port" "" "$SHOTS_BASE"
  stop_servers
}

run_stack() {
  local api gateway notifier
  api="$(any_port)"; gateway="$(any_port)"; notifier="$(any_port)"
  export DATABASE_URL="$BROWSER_DATABASE_URL" REDIS_URL="$BROWSER_REDIS_URL" CHANNEL_LAYER_PREFIX="browser-$$"
  export NOTIFIER_ADDR="127.0.0.1:$notifier" NOTIFIER_LISTEN="127.0.0.1:$notifier" NOTIFIER_METRICS_PORT=0
  unset SQLITE_PATH CHANNEL_LAYER_HOSTS
  STACK_DB="$DATABASE_URL"
  "$PY" "$HERE/stack_db.py" create "$DATABASE_URL" "$REDIS_URL"
  (cd "$ROOT" && "$PY" manage.py migrate --noinput -v 0)
  (cd "$ROOT" && exec setsid "$PY" manage.py run_notifier >"$WORK/notifier.log" 2>&1) & PIDS+=($!)
  (cd "$ROOT" && exec setsid "$PY" manage.py serve --port "$api" --role api >"$WORK/api.log" 2>&1) & PIDS+=($!)
  wait_live "http://127.0.0.1:$api" "$WORK/api.log" "${PIDS[-1]}"
  (cd "$ROOT" && exec setsid "$PY" manage.py serve --port "$gateway" --role gateway >"$WORK/gateway.log" 2>&1) & PIDS+=($!)
  wait_live "http://127.0.0.1:$gateway" "$WORK/gateway.log" "${PIDS[-1]}"
  run_spec stack "http://127.0.0.1:$api" "ws://127.0.0.1:$gateway/ws" "$SHOTS_BASE/stack"
  stop_servers
}

export APP_ENV=development LOG_LEVEL=warning PASSWORD_BCRYPT_ROUNDS=4 SHUTDOWN_DRAIN=0
BROWSER_DATABASE_URL="${BROWSER_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/neonchat_browser}"
BROWSER_REDIS_URL="${BROWSER_REDIS_URL:-redis://127.0.0.1:6379/13}"

if [ -n "${NEONCHAT_URL:-}" ]; then
  run_spec "given" "$NEONCHAT_URL" "${NEONCHAT_WS:-}" "$SHOTS_BASE"
  exit $?
fi
case "$MODE" in
  embedded) run_embedded ;;
  stack) run_stack ;;
  both) run_embedded && run_stack ;;
  *) echo "run.sh: MODE must be embedded, stack or both" >&2; exit 2 ;;
esac
