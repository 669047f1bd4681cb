#!/bin/sh
# `speakup bench network` in short, as a correctness test (the figures are the benchmark's business):
# every step runs and prints the issue's schema; the clients stream through each kind of path (lossy,
# jittery, relayed through coturn, and behind a 600 kbit/s uplink in a network namespace); the clean
# paths get nearly every frame answered; behind the cap, Chromium sends less than it and keeps its results.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! "$bin" bench network --clients 1 --seconds 4 --json > "$out"; then
  echo "FAIL: speakup bench network did not run every step"
  cat "$out"
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
keys = {"name", "loss_pct", "jitter_ms", "relay", "cap_kbps", "answered_pct", "p50_ms", "p95_ms", "max_gap_ms",
        "sent_kbps"}
steps = {s["name"]: s for s in d["steps"]}
check("every step ran", sorted(steps) == sorted(["direct", "loss2", "loss5", "loss10", "jitter30", "relay", "cap600",
                                                 "cap600_browser"]),
      sorted(steps))
for name, s in steps.items():
    check(name + ": the schema's fields", keys <= set(s), sorted(keys - set(s)))
    check(name + ": its client streamed", s.get("clients_streamed") == 1, s.get("errors"))
    floor = 100 if s.get("client") == "chromium" else 300  # loadgen sends its ~900 kbit/s file as it is
    check(name + ": video went out", s.get("sent_kbps", 0) > floor, s.get("sent_kbps"))
    check(name + ": figures are consistent", 0 <= s["answered_pct"] <= 100 and s["p50_ms"] <= s["p95_ms"] and
          s["max_gap_ms"] > 0, s)
check("the steps are what they say", steps["loss5"]["loss_pct"] == 5 and steps["jitter30"]["jitter_ms"] == 30 and
      steps["relay"]["relay"] is True and steps["cap600"]["cap_kbps"] == 600, "")
for name in ("direct", "relay"):
    s = steps[name]
    check(name + ": nearly every frame answered", s["answered_pct"] >= 80, "%.1f%%" % s["answered_pct"])
b = steps["cap600_browser"]
check("cap600_browser: Chromium's video settled under the cap and results kept coming",
      b["sent_kbps"] <= 600 and b["max_gap_ms"] < 2000 and b["answered_pct"] >= 50, b)
print("bench_network_test: %d failure(s)" % failures)
sys.exit(1 if failures else 0)
PY
