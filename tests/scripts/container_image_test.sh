#!/bin/sh
# The container image recipe (deploy/image/build.sh) through the real tools: mmdebstrap builds a Debian
# root file system with the program, podman imports it, and the image serves: /readyz and the page
# answer from `speakup serve` inside it. The image is tagged for this run and removed after.
# This machine's sandbox refuses podman's defaults (crun cannot raise RLIMIT_NOFILE and does not run
# with its cgroups): the container runs with runc, cgroupfs, explicit limits and the host's network.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
if ldd "$bin" 2> /dev/null | grep -q libasan; then
  # The image holds the program alone, not the sanitizer runtime; `make test` builds it from release.
  echo "container_image_test: skipped for a sanitizer build ($bin)"
  exit 0
fi
for tool in mmdebstrap podman runc curl; do
  command -v "$tool" > /dev/null || { fail "$tool is not installed (make setup installs it)"; exit 1; }
done
tag="speakup-test-$$"
podman_() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
cleanup() {
  podman_ rm -f "$tag" > /dev/null 2>&1
  podman_ rmi -f "localhost/$tag:latest" > /dev/null 2>&1
}
trap cleanup EXIT
log=$(mktemp)
if SPEAKUP_IMAGE_TAG="$tag" SPEAKUP_IMAGE_BIN="$bin" sh deploy/image/build.sh > "$log" 2>&1; then
  pass "deploy/image/build.sh builds the image from Debian packages ($(tail -n 1 "$log"))"
else
  fail "deploy/image/build.sh: $(tail -n 5 "$log")"
  exit 1
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
podman_ run -d --rm --name "$tag" --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network host "$tag" \
  serve --host=127.0.0.1 --port="$port" --models-dir=/opt/speakup/models --web-root=/opt/speakup/web > /dev/null
ready=
for _ in $(seq 1 60); do
  ready=$(curl -s "http://127.0.0.1:$port/readyz") && [ -n "$ready" ] && break
  sleep 0.5
done
if echo "$ready" | grep -q '"status":"ready"'; then pass "the image's server answers /readyz: $ready"
else fail "no /readyz from the container: $(podman_ logs "$tag" 2>&1 | tail -n 5)"; fi
if curl -s "http://127.0.0.1:$port/" | grep -q '<title>SpeakUp'; then pass "the image serves the page"
else fail "the image does not serve the page"; fi
if curl -s "http://127.0.0.1:$port/node_modules/three/build/three.module.js" | head -c 200 | grep -qi 'three'; then
  pass "the image holds the 3D view's three.js build"
else fail "three.js is missing from the image"; fi
podman_ stop -t 10 "$tag" > /dev/null 2>&1
echo "container_image_test: $failures failure(s)"
[ "$failures" -eq 0 ]
