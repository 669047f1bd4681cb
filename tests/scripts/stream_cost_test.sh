#!/bin/sh
# The server's per-stage CPU counters through the real path: `speakup bench stream-cost` (a server and
# one loadgen client streaming the face video) must see every stage of every codec cost something, and
# the stages must add up to no more than the process's CPU. Correctness only: no speed is asserted.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
for codec in vp8 vp9 h264; do
  if ! "$bin" bench stream-cost --codec "$codec" --duration 3 --json > "$work/$codec.json" 2> "$work/$codec.err"; then
    echo "FAIL: bench stream-cost --codec $codec: $(cat "$work/$codec.err")"
    failures=$((failures + 1))
    continue
  fi
  if python3 - "$work/$codec.json" "$codec" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ms = d["cpu_ms_per_frame"]
stages = ("decode", "convert", "warp", "inference", "result")
assert d["codec"].lower() == sys.argv[2], d["codec"]
assert d["frames"] >= 60 and d["answered"] >= 0.8, d
assert all(ms[s] > 0 for s in stages), ms
assert ms["inference"] > ms["warp"], ms   # the model costs more than cutting its input out
assert ms["webrtc_other"] > 0, ms         # the stages are a part of the process's CPU, not more
assert abs(sum(ms[s] for s in stages) + ms["webrtc_other"] - ms["total"]) < 1e-6, ms
assert 0 < d["core_pct_per_stream"] < 100, d
print(sys.argv[2], {k: round(v, 3) for k, v in ms.items()})
PY
  then echo "PASS: stream-cost $codec: every stage counted, within the process's CPU"
  else echo "FAIL: stream-cost $codec: $(cat "$work/$codec.json")"; failures=$((failures + 1))
  fi
done
echo "stream_cost_test: $failures failure(s)"
[ "$failures" -eq 0 ]
