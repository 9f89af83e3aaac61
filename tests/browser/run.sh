#!/usr/bin/env bash
# Browser end-to-end test of the web client.
#   tests/browser/run.sh                         start a throwaway embedded server on a free port in 8100-8109, test it
#   NEONCHAT_URL=http://host:port tests/browser/run.sh   test a server that is already running
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

if [ -n "${NEONCHAT_URL:-}" ]; then
  exec node chat.spec.mjs
fi

PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY="python3"

port_free() { "$PY" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null; }
PORT=""
for candidate in 8100 8101 8102 8103 8104 8105 8106 8107 8108 8109; do
  if port_free "$candidate"; then PORT="$candidate"; break; fi
done
[ -n "$PORT" ] || { echo "run.sh: no free port in 8100-8109" >&2; exit 1; }

WORK="$(mktemp -d -t neonchat-browser.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_LOG:-}" = "1" ]; then echo "server log: $WORK/server.log" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Embedded mode with a throwaway SQLite file: never touches var/neonchat.sqlite3.
export DATABASE_URL="" REDIS_URL="" NOTIFIER_ADDR="" SQLITE_PATH="$WORK/neonchat.sqlite3"
export APP_ENV=development LOG_LEVEL=warning PASSWORD_BCRYPT_ROUNDS=4 SHUTDOWN_DRAIN=0

cd "$ROOT"
"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py serve --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

URL="http://127.0.0.1:$PORT"
is_live() { "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$URL/health/live" 2>/dev/null; }
for _ in $(seq 1 100); do
  if is_live; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.log" >&2; echo "run.sh: server died" >&2; exit 1; fi
  sleep 0.2
done
is_live || { cat "$WORK/server.log" >&2; echo "run.sh: server not up" >&2; exit 1; }

cd "$HERE"
status=0
NEONCHAT_URL="$URL" node chat.spec.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "---- server log (last 40 lines) ----" >&2
  tail -n 40 "$WORK/server.log" >&2 || true
fi
exit "$status"
