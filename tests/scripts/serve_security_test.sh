#!/bin/sh
# `speakup serve` security defaults: loopback by default, TLS (or an explicit --insecure, with a
# warning) beyond it, HTTPS with a certificate, and clear errors for half a TLS configuration and
# for secret files that cannot be used.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
work=$(mktemp -d)
pid=      # the running server, if any (never a pid already waited for: the kernel may reuse it)
status=   # how the last server ended, once it has: its exit status as the shell gives it
starts=0 out='' err='' port=''
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
failures=0

# How a server ended, in words: "exit status 1", or "killed by signal TERM (15)".
ended() {
  if [ "$1" -gt 128 ]; then echo "killed by signal $(kill -l "$(($1 - 128))" 2>/dev/null) ($(($1 - 128)))"
  else echo "exit status $1"; fi
}

# curl for the checks: its error, if any, goes where a failing check shows it.
fetch() { curl -sS --max-time 10 "$@" 2>> "$work/curl.err"; }

# A failure shows the last server's state and what it printed, so a rare one can be understood
# from CI's log.
check() {
  rm -f "$work/curl.err"
  if eval "$2"; then echo "PASS: $1"; return; fi
  echo "FAIL: $1"
  failures=$((failures + 1))
  [ -s "$work/curl.err" ] && sed 's/^/    /' "$work/curl.err"
  if [ -n "$pid" ]; then echo "    server $pid: running"
  elif [ -n "$status" ]; then echo "    server: $(ended "$status")"; fi
  for f in "$out" "$err"; do [ -f "$f" ] && sed 's/^/    server: /' "$f" | tail -20; done
}

# Starts the server in the background; waits for its "listening on" line (or its exit, whose
# status it keeps). Each server writes files of its own: `> file &` truncates the file in the
# child, after the shell has gone on, so polling a file the previous server wrote can find that
# server's "listening on" line (and its port) before the new one has even started.
start() {
  starts=$((starts + 1))
  out=$work/out.$starts err=$work/err.$starts status=
  "$bin" serve --port 0 "$@" > "$out" 2> "$err" &
  pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$out" 2>/dev/null && break
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; status=$? pid=
      echo "    (the server exited before listening: $(ended "$status"))"
      break
    fi
    sleep 0.1
  done
  port=$(sed -n 's|.*listening on https\{0,1\}://[^:]*:\([0-9]*\)/.*|\1|p' "$out")
}

# SIGTERM (SIGKILL if that has not stopped it within 20 s), then the exit status: a server that
# answered has its signal handlers and stops cleanly (status 0; under the sanitizer build, also no
# leaks at exit).
stop() {
  [ -n "$pid" ] || return
  kill "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "    (still running 20 s after SIGTERM: SIGKILL)"; kill -KILL "$pid"; fi
  wait "$pid"; status=$? pid=
  check "$1 stops cleanly on SIGTERM" "[ $status -eq 0 ] && grep -q 'speakup serve: stopped' '$out'"
}

"$bin" serve --host 0.0.0.0 --port 0 > /dev/null 2> "$work/refused.err"
check "plain HTTP beyond loopback is refused" "[ $? -ne 0 ] && grep -q 'needs TLS' '$work/refused.err' && grep -q -- '--insecure' '$work/refused.err'"

"$bin" serve --tls-cert /nonexistent.pem --port 0 > /dev/null 2> "$work/half.err"
check "a certificate without a key is refused" "[ $? -ne 0 ] && grep -q 'both --tls-cert and --tls-key' '$work/half.err'"

# Secrets from files: a missing or empty file, or both forms at once, is refused with a message.
"$bin" serve --port 0 --token-file "$work/none" > /dev/null 2> "$work/secret.err"
check "a --token-file that cannot be read is refused" "[ $? -ne 0 ] && grep -q \"cannot read '$work/none'\" '$work/secret.err'"
: > "$work/empty"
"$bin" serve --port 0 --turn-secret-file "$work/empty" > /dev/null 2> "$work/secret.err"
check "an empty --turn-secret-file is refused" "[ $? -ne 0 ] && grep -q 'is empty' '$work/secret.err'"
echo s > "$work/secret"
"$bin" serve --port 0 --token t --token-file "$work/secret" > /dev/null 2> "$work/secret.err"
check "--token with --token-file is refused" "[ $? -ne 0 ] && grep -q 'not both' '$work/secret.err'"

start
check "the default listens on loopback" "grep -q 'listening on http://localhost:' '$out'"
check "and answers there" "fetch -f http://127.0.0.1:$port/healthz | grep -q ok"
stop "the loopback server"

start --host 0.0.0.0 --insecure
check "--insecure serves beyond loopback with a warning" \
  "grep -q 'warning: serving plain HTTP' '$err' && fetch -f http://127.0.0.1:$port/healthz | grep -q ok"
stop "the --insecure server"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=localhost \
  > "$work/openssl.log" 2>&1 || { echo "FAIL: openssl could not make a test certificate"; cat "$work/openssl.log"; exit 1; }
# Under the sanitizer build, LeakSanitizer's exit-time check of a server that has run a TLS
# handshake crashes in its own tracer ("Tracer caught signal 11", exit status 1): GnuTLS is
# dlopen()ed with the GIO TLS module, and the runtime's record of that dynamic TLS block (from its
# __tls_get_addr interceptor; GCC 12's libasan with glibc 2.36) is a bogus range. Without that
# interception the check runs, and finds nothing. (No ASan program runs after this server.)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}intercept_tls_get_addr=0"
start --host 0.0.0.0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
check "with a certificate it serves HTTPS beyond loopback" \
  "grep -q 'listening on https://' '$out' && fetch -fk https://127.0.0.1:$port/healthz | grep -q ok"
# Each HTTPS connection's TLS state must live as long as libsoup serves it (once, a quarter of
# requests got a close-notify instead of an answer).
answered=0
for _ in $(seq 40); do fetch -fk https://127.0.0.1:$port/healthz 2> /dev/null | grep -q ok && answered=$((answered + 1)); done
check "40 HTTPS requests in a row are all answered" "[ $answered -eq 40 ]"
check "and no plain HTTP there" "[ -n '$port' ] && ! curl -sf --max-time 10 http://127.0.0.1:$port/healthz > /dev/null 2>&1"
stop "the HTTPS server"

echo "serve_security_test: $failures failure(s)"
[ "$failures" -eq 0 ]
