#!/bin/sh
# Builds the container image speakup:latest from Debian packages only (no base image from a registry):
# mmdebstrap makes a Debian 12 root file system with the runtime libraries, the built program, the
# web client and the models are copied in, and podman imports the tarball as an image.
#
#   make build && sh deploy/image/build.sh      (make setup installs mmdebstrap, podman and runc)
# Env: SPEAKUP_IMAGE_TAG (default speakup), SPEAKUP_IMAGE_BIN (default the release build).
#
# The image runs `speakup` (entry point) with the models in /opt/speakup/models and the client in
# /opt/speakup/web; deploy/k8s/speakup.yaml passes --models-dir and --web-root accordingly. It also
# holds coturn, so one image serves both Deployments.
set -eu
cd "$(dirname "$0")/../.."
bin=${SPEAKUP_IMAGE_BIN:-build/release/apps/speakup/speakup}
tag=${SPEAKUP_IMAGE_TAG:-speakup}
[ -x "$bin" ] || { echo "build/image: no $bin: run make build first" >&2; exit 1; }
for tool in mmdebstrap podman; do
  command -v "$tool" > /dev/null || { echo "build/image: $tool is missing: apt-get install $tool" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/speakup"

# The program's shared libraries, as Debian package names (the same list make setup installs as -dev).
packages=ca-certificates,coturn,libsoup-3.0-0,libxnnpack0,libpthreadpool0,libcpuinfo0,libflatbuffers2,\
libprotobuf32,libyuv0,libjpeg62-turbo,libpng16-16,libgstreamer1.0-0,gstreamer1.0-plugins-base,\
gstreamer1.0-plugins-good,gstreamer1.0-plugins-bad,gstreamer1.0-plugins-ugly,gstreamer1.0-libav,gstreamer1.0-nice

mmdebstrap --variant=minbase --include="$packages" \
  --customize-hook='mkdir -p "$1/opt/speakup"' \
  --customize-hook="copy-in $work/speakup /usr/local/bin" \
  --customize-hook="copy-in models web /opt/speakup" \
  --customize-hook='rm -rf "$1/opt/speakup/web/node_modules" "$1/opt/speakup/web/test"' \
  bookworm "$work/rootfs.tar"
# The 3D view's three.js build (the only file the page takes from node_modules).
mkdir -p "$work/three/opt/speakup/web/node_modules/three"
cp -r web/node_modules/three/build "$work/three/opt/speakup/web/node_modules/three/"
tar -C "$work/three" -rf "$work/rootfs.tar" opt/speakup/web/node_modules

podman import \
  --change 'ENTRYPOINT ["/usr/local/bin/speakup"]' \
  --change 'CMD ["serve", "--host=0.0.0.0", "--insecure", "--models-dir=/opt/speakup/models", "--web-root=/opt/speakup/web"]' \
  --change 'EXPOSE 8080' \
  "$work/rootfs.tar" "$tag:latest" > /dev/null
echo "build/image: $tag:latest ($(du -h "$work/rootfs.tar" | cut -f1) root file system)"
