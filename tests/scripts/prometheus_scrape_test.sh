#!/bin/sh
# /metrics as Prometheus itself sees it: promtool lints the exposition text, then Debian's
# prometheus scrapes a running `speakup serve` and its query API must return the server's series.
# prometheus is not one of the packages `make setup` installs (the Debian package also starts a
# system service); without it this test says SKIP and passes: /metrics is still checked by the
# server unit test and the browser end-to-end test.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
if ! command -v prometheus > /dev/null || ! command -v promtool > /dev/null; then
  echo "SKIP: Debian's prometheus is not installed (apt-get install prometheus to run this check)"
  exit 0
fi
work=$(mktemp -d)
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
failures=0
check() { if eval "$2"; then echo "PASS: $1"; else echo "FAIL: $1"; failures=$((failures + 1)); fi; }

"$bin" serve --port 0 > "$work/out" 2> "$work/err" &
pids="$pids $!"
for _ in $(seq 100); do grep -q 'listening on' "$work/out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's|.*listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$work/out")
check "the server started" "[ -n '$port' ]"

curl -sf "http://127.0.0.1:$port/metrics" > "$work/metrics"
check "promtool finds /metrics well formed, without lint problems" "promtool check metrics < '$work/metrics' > '$work/lint' 2>&1"
cat "$work/lint"

# A free port for prometheus's own API: ask the kernel for one through a throw-away listener.
prom_port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: speakup
    static_configs:
      - targets: ['127.0.0.1:$port']
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 &
pids="$pids $!"
query() { curl -sfG "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1"; }
up=
for _ in $(seq 150); do
  up=$(query 'up{job="speakup"}' 2>/dev/null | grep -o '"value":\[[^]]*\]' || true)
  echo "$up" | grep -q '"1"' && break
  sleep 0.2
done
check "prometheus scraped the server (up == 1)" "echo '$up' | grep -q '\"1\"'"
check "prometheus has the server's series (speakup_sessions_active, a frame histogram)" \
  "query 'speakup_sessions_active' | grep -q '\"__name__\":\"speakup_sessions_active\"' && \
   query 'speakup_frame_seconds_count' | grep -q '\"__name__\":\"speakup_frame_seconds_count\"'"
[ "$failures" -eq 0 ] || tail -20 "$work/prometheus.log"

echo "prometheus_scrape_test: $failures failure(s)"
[ "$failures" -eq 0 ]
