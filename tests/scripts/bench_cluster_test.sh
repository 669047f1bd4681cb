#!/bin/sh
# `speakup bench cluster` in short, as a correctness test (the figures are the benchmark's business):
# three nodes behind HAProxy with deploy/haproxy.cfg and reconnecting clients. Every client streams
# and lands on some node; a rolling restart stops and brings back every node cleanly while the
# clients keep streaming; after one node is killed, each of its clients is back on another node and
# none is left on the dead one.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$bin" bench cluster --clients 6 --drain-seconds 2 --json > "$out"; then
  echo "FAIL: speakup bench cluster did not run"
  exit 1
fi
python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
failures = 0
def check(what, ok, detail=""):
    global failures
    print(("PASS: " if ok else "FAIL: ") + what + (" (%s)" % detail if detail else ""))
    failures += 0 if ok else 1
spread, rolling, failover = d["spread"], d["rolling"], d["failover"]
check("spread: every client streams, every node takes some", d["spread_streamed"] == 6 and len(spread) == 3 and
      min(spread) > 0 and sum(spread) == 6, spread)
check("rolling restart: each node drained, exited 0 and came back ready", rolling["restarted_cleanly"] is True)
check("rolling restart: every client kept streaming through it", rolling["streamed"] == 6 and rolling["lost_pct"] < 50,
      "%.1f%% lost, longest gap %.0f ms" % (rolling["lost_pct"], rolling["max_gap_ms"]))
after = failover["sessions_after"]
check("failover: the killed node's clients all reconnected", failover["clients"] > 0 and
      failover["reconnected"] == failover["clients"], "%d of %d" % (failover["reconnected"], failover["clients"]))
check("failover: nobody is left on the dead node, everyone is on another", after[failover["killed_node"]] == 0 and
      sum(after) == 6 and failover["back_after_s"] >= 0, after)
print("bench_cluster_test: %d failure(s)" % failures)
sys.exit(1 if failures else 0)
PY
