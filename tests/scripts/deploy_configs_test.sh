#!/bin/sh
# The deployment files agree with the program and with each other: HAProxy accepts deploy/haproxy.cfg;
# every Kubernetes manifest parses; the Deployment probes /readyz and /healthz, waits longer than its
# drain, passes only flags `speakup serve` has, and the PDB, Service and autoscaler select it; the
# autoscaler's metric is one the server exports; coturn's ConfigMap file exists.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 1 -subj /CN=localhost \
  > /dev/null 2>&1
cat "$work/cert.pem" "$work/key.pem" > "$work/speakup.pem"
if SPEAKUP_HTTPS_BIND=127.0.0.1:1 SPEAKUP_TLS_PEM="$work/speakup.pem" SPEAKUP_HTTP_BIND=127.0.0.1:2 \
   SPEAKUP_NODE1=127.0.0.1:3 SPEAKUP_NODE2=127.0.0.1:4 SPEAKUP_NODE3=127.0.0.1:5 \
   haproxy -c -f deploy/haproxy.cfg > "$work/haproxy" 2>&1; then
  pass "haproxy accepts deploy/haproxy.cfg"
else
  fail "haproxy -c: $(tail -n 5 "$work/haproxy")"
fi

"$bin" serve --help > "$work/serve_help"
"$bin" serve --port 0 --drain-seconds 0 > "$work/serve_out" 2>&1 &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\)\/.*/\1/p' "$work/serve_out")
  [ -n "$port" ] && break
  sleep 0.1
done
curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics"
kill "$pid"; wait "$pid" 2> /dev/null

if python3 - deploy/k8s "$work/serve_help" "$work/metrics" <<'PY'
import glob, re, sys, yaml
folder, help_text, metrics = sys.argv[1], open(sys.argv[2]).read(), open(sys.argv[3]).read()
docs = [d for f in sorted(glob.glob(folder + "/*.yaml")) for d in yaml.safe_load_all(open(f)) if d]
kinds = {}
for d in docs:
    kinds.setdefault(d["kind"], []).append(d)
deployment = next(d for d in kinds["Deployment"] if d["metadata"]["name"] == "speakup")
pod = deployment["spec"]["template"]
labels = pod["metadata"]["labels"]
assert deployment["spec"]["selector"]["matchLabels"] == labels
container = pod["spec"]["containers"][0]
args = container["args"]
assert args[0] == "serve", args
flags = [a.split("=")[0] for a in args[1:]]
known = set(re.findall(r"(--[a-z][a-z-]*)", help_text))
unknown = [f for f in flags if f not in known]
assert not unknown, "flags speakup serve does not have: %s" % unknown
value = lambda flag: next(a.split("=", 1)[1] for a in args if a.startswith(flag + "="))
drain = int(value("--drain-seconds"))
assert pod["spec"]["terminationGracePeriodSeconds"] > drain + 5, "the pod would be killed mid-drain"
assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
port = int(value("--port"))
assert any(p["containerPort"] == port for p in container["ports"]), "the container port is not --port"
assert pod["spec"].get("hostNetwork") is True
pdb = kinds["PodDisruptionBudget"][0]
assert pdb["spec"]["selector"]["matchLabels"] == labels
service = kinds["Service"][0]
assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
hpa = kinds["HorizontalPodAutoscaler"][0]
assert hpa["spec"]["scaleTargetRef"]["name"] == "speakup"
metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
assert re.search(r"^%s " % metric, metrics, re.M), "the server exports no %s" % metric
ingress = kinds["Ingress"][0]
backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
assert backend["name"] == service["metadata"]["name"]
coturn = next(d for d in kinds["Deployment"] if d["metadata"]["name"] == "speakup-coturn")
assert coturn["spec"]["template"]["spec"]["containers"][0]["command"][0] == "turnserver"
print("%d manifests; serve flags %s" % (len(docs), " ".join(flags)))
PY
then pass "the Kubernetes manifests agree with speakup serve and with each other"
else fail "the Kubernetes manifests"; fi
[ -f deploy/coturn/turnserver.conf ] && pass "coturn's configuration is where the ConfigMap takes it from" ||
  fail "deploy/coturn/turnserver.conf is missing"
sh -n deploy/image/build.sh && pass "deploy/image/build.sh is valid sh" || fail "deploy/image/build.sh syntax"
echo "deploy_configs_test: $failures failure(s)"
[ "$failures" -eq 0 ]
