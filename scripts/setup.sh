#!/bin/sh
# Prepares a Debian 12 machine for SpeakUp: installs the Debian packages that are missing, then
# fetches the models (scripts/fetch_models.sh). Safe to run again: when everything is there it
# prints one line per step and changes nothing. Runs apt-get as root, through sudo otherwise.
#
#   scripts/setup.sh                 install missing packages, then fetch the models
#   scripts/setup.sh --dry-run       only print which packages would be installed
#   scripts/setup.sh --no-models     install packages only
set -eu

# ---------------------------------------------------------------------------------------------
# The Debian packages SpeakUp needs. Add new ones here (one per line, with what needs them).
# nodejs and npm are skipped when `node` / `npm` already exist (e.g. from another node build).
PACKAGES='
build-essential
cmake
pkg-config
clang
libclang-rt-14-dev
libxnnpack-dev
libflatbuffers-dev
flatbuffers-compiler
libfp16-dev
libpthreadpool-dev
libcpuinfo-dev
libgtest-dev
libgmock-dev
libbenchmark-dev
nlohmann-json3-dev
libcli11-dev
libspdlog-dev
libprotobuf-dev
protobuf-compiler
libpng-dev
libjpeg62-turbo-dev
libeigen3-dev
libyuv-dev
libgstreamer1.0-dev
libgstreamer-plugins-base1.0-dev
libgstreamer-plugins-bad1.0-dev
gstreamer1.0-plugins-base
gstreamer1.0-plugins-good
gstreamer1.0-plugins-bad
gstreamer1.0-plugins-ugly
gstreamer1.0-libav
gstreamer1.0-nice
gstreamer1.0-tools
chromium
firefox-esr
libsoup-3.0-dev
nodejs
npm
python3
python3-yaml
ca-certificates
curl
openssl
unzip
zip
coturn
haproxy
mmdebstrap
podman
runc
iproute2
nftables
util-linux
'
# build-essential cmake pkg-config: the build. clang libclang-rt-14-dev: libFuzzer, sanitizers.
# libxnnpack-dev libflatbuffers-dev flatbuffers-compiler libfp16-dev libpthreadpool-dev
# libcpuinfo-dev: the inference engine. libgtest-dev libgmock-dev libbenchmark-dev: tests and
# benchmarks. nlohmann-json3-dev libcli11-dev libspdlog-dev: JSON, command line, logging.
# libprotobuf-dev protobuf-compiler: face geometry metadata. libpng-dev libjpeg62-turbo-dev:
# reading test images. libeigen3-dev: head pose (SVD). libyuv-dev: YUV -> RGB. libgstreamer*-dev gstreamer1.0-*: decoding
# files and cameras, encoding (x264enc is in -ugly), WebRTC (-bad, -nice). nodejs npm: model fetching (npm pack)
# and browser tests. chromium, firefox-esr: the browsers of the end-to-end tests (driven by npm
# playwright-core and puppeteer-core; never a downloaded browser). libsoup-3.0-dev: HTTP and WebSocket signaling. python3: tools. ca-certificates: TLS to the package registries.
# curl: (also) fetches face_landmarker.task from its official address. unzip: unpacks its members.
# zip: tests/scripts/fetch_models_test.sh builds damaged bundles. coturn: the TURN server of
# tests/e2e/turn_relay.mjs, which runs its own `turnserver` on loopback (the package's system
# service is not used: setup stops and disables it when it installs the package). haproxy: the
# balancer of tests/e2e/haproxy_cluster.mjs, run with deploy/haproxy.cfg (its service likewise).
# mmdebstrap podman runc: the container image (deploy/image/build.sh) and its test. python3-yaml: the
# Kubernetes manifests' test (tests/scripts/deploy_configs_test.sh). iproute2 nftables util-linux:
# the network tests and `bench network` make their own network namespace (unshare -n), shape its
# loopback (tc) and mark or block the media's packets (nft).
# ---------------------------------------------------------------------------------------------

dry_run=0
fetch_models=1
for arg in "$@"; do
  case $arg in
    --dry-run) dry_run=1 ;;
    --no-models) fetch_models=0 ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: scripts/setup.sh [--dry-run] [--no-models]" >&2; exit 2 ;;
  esac
done

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

command -v dpkg-query > /dev/null 2>&1 || {
  echo "setup: error: dpkg-query not found: this script is for Debian 12" >&2
  exit 1
}

missing=
n_packages=0
for pkg in $PACKAGES; do
  n_packages=$((n_packages + 1))
  case $pkg in
    # A node or npm from elsewhere (NodeSource, nvm, a tarball) is kept: Debian's npm installed
    # over it would fight with it.
    nodejs) command -v node > /dev/null 2>&1 && continue ;;
    npm) command -v npm > /dev/null 2>&1 && continue ;;
  esac
  is_installed "$pkg" || missing="$missing $pkg"
done

if [ -z "$missing" ]; then
  echo "setup: all $n_packages Debian packages present"
else
  if [ "$dry_run" = 1 ]; then
    echo "setup: would install Debian packages:$missing (--dry-run: nothing done)"
    exit 0
  fi
  echo "setup: installing Debian packages:$missing"
  if [ "$(id -u)" -eq 0 ]; then
    as_root=
  elif command -v sudo > /dev/null 2>&1; then
    as_root=sudo
  else
    echo "setup: error: not root and sudo is not installed; run this script as root" >&2
    exit 1
  fi
  # env keeps DEBIAN_FRONTEND across sudo; the lock timeout waits out a running apt (e.g. on boot).
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update
  # shellcheck disable=SC2086  # word splitting of the package list is intended
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
    -o DPkg::Lock::Timeout=300 install $missing
  still_missing=
  for pkg in $missing; do
    is_installed "$pkg" || still_missing="$still_missing $pkg"
  done
  if [ -n "$still_missing" ]; then
    echo "setup: error: still not installed:$still_missing" >&2
    exit 1
  fi
  echo "setup: installed:$missing"
  # Debian's coturn starts a system TURN server on the machine's public ports (on systemd hosts);
  # SpeakUp's tests run their own on loopback, and a deployment configures its own (docs/deploy.md).
  case " $missing " in
    *" coturn "*)
      if [ -d /run/systemd/system ] && command -v systemctl > /dev/null 2>&1; then
        $as_root systemctl disable --now coturn.service > /dev/null 2>&1 || true
        echo "setup: coturn's system service stopped and disabled (the tests start their own turnserver)"
      fi
      ;;
  esac
  case " $missing " in
    *" haproxy "*)
      if [ -d /run/systemd/system ] && command -v systemctl > /dev/null 2>&1; then
        $as_root systemctl disable --now haproxy.service > /dev/null 2>&1 || true
        echo "setup: haproxy's system service stopped and disabled (the tests start their own)"
      fi
      ;;
  esac
fi

if [ "$dry_run" = 1 ]; then
  exit 0
fi

# The browser client's npm packages (three, pinned; playwright-core for the browser tests), from
# web/package-lock.json. Re-done only when the lock file is newer than the installed tree.
web_dir="$script_dir/../web"
stamp="$web_dir/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$web_dir/package-lock.json" -nt "$stamp" ]; then
  echo "setup: installing the web client's npm packages (web/package-lock.json)"
  (cd "$web_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
else
  echo "setup: web client npm packages present"
fi

if [ "$fetch_models" = 0 ]; then
  exit 0
fi
exec sh "$script_dir/fetch_models.sh"
