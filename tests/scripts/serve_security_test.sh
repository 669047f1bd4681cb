#!/bin/sh
# `speakup serve` security defaults: loopback by default, TLS (or an explicit --insecure, with a
# warning) beyond it, HTTPS with a certificate, and clear errors for half a TLS configuration.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
work=$(mktemp -d)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
failures=0
# A failure shows what the last server printed, so a rare one can be understood from CI's log.
check() {
  if eval "$2"; then echo "PASS: $1"; return; fi
  echo "FAIL: $1"
  failures=$((failures + 1))
  for f in "$work/out" "$work/err"; do [ -f "$f" ] && sed 's/^/    server: /' "$f" | tail -20; done
}

# Starts the server in the background; waits for its "listening on" line (or its exit).
start() {
  "$bin" serve --port 0 "$@" > "$work/out" 2> "$work/err" &
  pid=$!
  pids="$pids $pid"
  for _ in $(seq 100); do
    grep -q 'listening on' "$work/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  port=$(sed -n 's|.*listening on https\{0,1\}://[^:]*:\([0-9]*\)/.*|\1|p' "$work/out")
}

"$bin" serve --host 0.0.0.0 --port 0 > /dev/null 2> "$work/refused.err"
check "plain HTTP beyond loopback is refused" "[ $? -ne 0 ] && grep -q 'needs TLS' '$work/refused.err' && grep -q -- '--insecure' '$work/refused.err'"

"$bin" serve --tls-cert /nonexistent.pem --port 0 > /dev/null 2> "$work/half.err"
check "a certificate without a key is refused" "[ $? -ne 0 ] && grep -q 'both --tls-cert and --tls-key' '$work/half.err'"

start
check "the default listens on loopback" "grep -q 'listening on http://localhost:' '$work/out'"
check "and answers there" "curl -sf http://127.0.0.1:$port/healthz | grep -q ok"
kill "$pid"; wait "$pid" 2>/dev/null

start --host 0.0.0.0 --insecure
check "--insecure serves beyond loopback with a warning" "grep -q 'warning: serving plain HTTP' '$work/err' && curl -sf http://127.0.0.1:$port/healthz | grep -q ok"
kill "$pid"; wait "$pid" 2>/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=localhost \
  > /dev/null 2>&1
start --host 0.0.0.0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
check "with a certificate it serves HTTPS beyond loopback" "grep -q 'listening on https://' '$work/out' && curl -sfk https://127.0.0.1:$port/healthz | grep -q ok"
check "and no plain HTTP there" "! curl -sf http://127.0.0.1:$port/healthz > /dev/null 2>&1"
kill "$pid"; wait "$pid" 2>/dev/null

echo "serve_security_test: $failures failure(s)"
[ "$failures" -eq 0 ]
