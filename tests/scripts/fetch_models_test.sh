#!/bin/sh
# Tests scripts/fetch_models.sh without the network. It copies the already fetched models from
# $SPEAKUP_MODELS_DIR (set by CTest; default <repo>/models) into temporary folders and runs the real
# script there with SPEAKUP_MODELS_DIR pointing at them. A fake `npm` first in PATH records every
# call; where a case needs a download, it hands out tarballs this test builds from the real models
# (with the packed bundle laid out in another order than MediaPipe's, so the ranges must really be
# read from the loader). POSIX sh: CTest runs it as `sh tests/scripts/fetch_models_test.sh`.
set -u

repo_root=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
fetch=$repo_root/scripts/fetch_models.sh
sums=$repo_root/models/SHA256SUMS
src_models=${SPEAKUP_MODELS_DIR:-$repo_root/models}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $1"
  if [ -n "${out:-}" ]; then
    echo "---- script output (exit $rc) ----"
    printf '%s\n' "$out"
    echo "----"
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

names=$(awk '{ print $2 }' "$sums")

# --- the fake npm --------------------------------------------------------------------------------
mkdir -p "$tmp/bin" "$tmp/tarballs"
npm_log=$tmp/npm.log
cat > "$tmp/bin/npm" <<'EOF'
#!/bin/sh
# Fake npm for fetch_models_test.sh: logs its arguments; serves $FAKE_NPM_TARBALLS/<name>.tgz for
# `npm pack SPEC`, or fails like an offline npm when FAKE_NPM_TARBALLS is empty.
echo "$*" >> "$FAKE_NPM_LOG"
for a in "$@"; do spec=$a; done
if [ "$1" != pack ] || [ -z "${FAKE_NPM_TARBALLS:-}" ]; then
  echo "npm error network request failed (fake npm: offline)" >&2
  exit 1
fi
name=$(printf '%s.tgz' "$spec" | sed -e 's|^@||' -e 's|/|-|' -e 's|@|-|')
cp "$FAKE_NPM_TARBALLS/$name" . || exit 1
echo "$name"
EOF
chmod +x "$tmp/bin/npm"
export FAKE_NPM_LOG="$npm_log"
PATH=$tmp/bin:$PATH
export PATH

# Runs the real script on folder $1 with the rest as arguments; sets out and rc. Clears the log.
run_fetch() {
  dir=$1
  shift
  : > "$npm_log"
  out=$(SPEAKUP_MODELS_DIR=$dir sh "$fetch" "$@" 2>&1)
  rc=$?
}
npm_calls() { wc -l < "$npm_log" | tr -d ' '; }
contains() { printf '%s\n' "$out" | grep -F -q -- "$1"; }
fresh_copy() {
  rm -rf "$1"
  mkdir -p "$1"
  for n in $names; do cp "$src_models/$n" "$1/$n"; done
}
# A listing of name and SHA-256 of every model file in $1 (to show that nothing changed).
fingerprint() {
  for n in $names; do
    if [ -f "$1/$n" ]; then printf '%s %s\n' "$n" "$(sha256sum < "$1/$n")"; else echo "$n absent"; fi
  done
}
# Changes the byte at offset $2 of file $1 to a different value.
flip_byte() {
  old=$(od -An -tu1 -j "$2" -N 1 "$1" | tr -d ' ')
  new=$(( (old + 1) % 256 ))
  # shellcheck disable=SC2059  # the format is the octal escape itself
  printf "\\$(printf '%03o' "$new")" | dd of="$1" bs=1 seek="$2" conv=notrunc 2> /dev/null
}
no_staging_left() { ! ls -d "$1"/.cache/staging.* > /dev/null 2>&1; }

# --- precondition: the real models are there -----------------------------------------------------
out=
rc=0
if ! SPEAKUP_MODELS_DIR=$src_models sh "$fetch" --check > /dev/null 2>&1; then
  fail "the models in $src_models are missing or altered: run 'make models' first"
  finish
fi
pass "source models in $src_models verify"

# --- (a) all present: exit 0, one line, npm never called -----------------------------------------
d=$tmp/a
fresh_copy "$d"
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "all 5 files present and verified" && [ "$(npm_calls)" -eq 0 ] &&
   [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]; then
  pass "(a) all files present: exit 0, 'present and verified', no npm call"
else
  fail "(a) all files present: expected exit 0, one 'present and verified' line and no npm call"
fi
run_fetch "$d" --check
if [ "$rc" -eq 0 ] && contains "all 5 files present and verified" && [ "$(npm_calls)" -eq 0 ]; then
  pass "(a) --check on a complete folder: exit 0"
else
  fail "(a) --check on a complete folder: expected exit 0"
fi

# --- (b) one file altered: non-zero, names the file, expected vs actual, the fix ----------------
d=$tmp/b
fresh_copy "$d"
flip_byte "$d/face_landmark.tflite" 1000
before=$(fingerprint "$d")
run_fetch "$d"
if [ "$rc" -ne 0 ] && contains "face_landmark.tflite" && contains "expected" &&
   contains "actual" && contains "scripts/fetch_models.sh --force" && [ "$(npm_calls)" -eq 0 ] &&
   [ "$(fingerprint "$d")" = "$before" ]; then
  pass "(b) altered file: non-zero exit naming face_landmark.tflite, the sums and the fix; file left alone"
else
  fail "(b) altered file: expected a non-zero exit naming the file, expected/actual sums and '--force'"
fi
run_fetch "$d" --check
if [ "$rc" -ne 0 ] && contains "ALTERED  face_landmark.tflite" && contains "--force" &&
   [ "$(npm_calls)" -eq 0 ]; then
  pass "(b) --check reports the altered file and the fix"
else
  fail "(b) --check: expected 'ALTERED  face_landmark.tflite', the fix and a non-zero exit"
fi

# --- (c) one file missing, --check: reported, nothing fetched ------------------------------------
d=$tmp/c
fresh_copy "$d"
rm "$d/face_detection_full_range.tflite"
before=$(fingerprint "$d")
run_fetch "$d" --check
if [ "$rc" -ne 0 ] && contains "MISSING  face_detection_full_range.tflite" &&
   contains "4 of 5 files verified" && [ "$(npm_calls)" -eq 0 ] &&
   [ "$(fingerprint "$d")" = "$before" ]; then
  pass "(c) --check reports the missing file without fetching"
else
  fail "(c) --check: expected 'MISSING  face_detection_full_range.tflite' and no download"
fi

# --- (d) missing file, npm fails: clear error, nothing installed, no leftovers ------------------
run_fetch "$d"
if [ "$rc" -ne 0 ] && contains "npm pack" && [ "$(npm_calls)" -ge 1 ] &&
   [ "$(fingerprint "$d")" = "$before" ] && no_staging_left "$d"; then
  pass "(d) download failure: non-zero exit, clear error, folder unchanged"
else
  fail "(d) download failure: expected a non-zero exit and an unchanged folder"
fi

# --- build fake packages from the real files ----------------------------------------------------
# face_mesh: the bundle in the order geometry, short range, landmark, attention (MediaPipe's is
# attention, landmark, geometry, short range).
make_face_mesh() {
  pkg=$tmp/pkg_mesh/package
  rm -rf "$tmp/pkg_mesh"
  mkdir -p "$pkg"
  entries=
  offset=0
  : > "$pkg/face_mesh_solution_packed_assets.data"
  for entry in face_geometry/data/geometry_pipeline_metadata_landmarks.binarypb \
               face_detection/face_detection_short_range.tflite \
               face_landmark/face_landmark.tflite \
               face_landmark/face_landmark_with_attention.tflite; do
    file=$src_models/${entry##*/}
    size=$(wc -c < "$file" | tr -d ' ')
    cat "$file" >> "$pkg/face_mesh_solution_packed_assets.data"
    entries="$entries${entries:+, }{\"filename\": \"/third_party/mediapipe/modules/$entry\", \"start\": $offset, \"end\": $((offset + size))}"
    offset=$((offset + size))
  done
  cat > "$pkg/face_mesh_solution_packed_assets_loader.js" <<EOF
  var Module = typeof createMediapipeSolutionsPackedAssets !== 'undefined' ? createMediapipeSolutionsPackedAssets : {};
  (function() {
    var loadPackage = function(metadata) {
      var files = metadata['files']; // { "not": "json" }
    }
    loadPackage({"files": [$entries], "remote_package_size": $offset, "package_uuid": "fetch-models-test"});
  })();
EOF
  echo '{"name": "@mediapipe/face_mesh", "version": "0.4.1657299874"}' > "$pkg/package.json"
  tar -czf "$tmp/tarballs/mediapipe-face_mesh-0.4.1657299874.tgz" -C "$tmp/pkg_mesh" package
}
make_face_detection() {
  pkg=$tmp/pkg_det/package
  rm -rf "$tmp/pkg_det"
  mkdir -p "$pkg"
  cp "$src_models/face_detection_short_range.tflite" "$src_models/face_detection_full_range.tflite" "$pkg/"
  echo '{"name": "@mediapipe/face_detection", "version": "0.4.1657300184"}' > "$pkg/package.json"
  tar -czf "$tmp/tarballs/mediapipe-face_detection-0.4.1657300184.tgz" -C "$tmp/pkg_det" package
}
make_face_mesh
make_face_detection

# --- (e) missing file, packages downloadable: installed, verified, cached ----------------------
rm -f "$d/face_landmark.tflite"
run_fetch_online() {
  FAKE_NPM_TARBALLS=$tmp/tarballs
  export FAKE_NPM_TARBALLS
  run_fetch "$@"
  unset FAKE_NPM_TARBALLS
}
run_fetch_online "$d"
if [ "$rc" -eq 0 ] && [ "$(npm_calls)" -eq 2 ] && contains "installed face_landmark.tflite" &&
   contains "installed face_detection_full_range.tflite" &&
   [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ] && no_staging_left "$d" &&
   [ -f "$d/.cache/mediapipe-face_mesh-0.4.1657299874.tgz" ]; then
  pass "(e) missing files fetched (ranges read from the loader), verified, installed, tarballs cached"
else
  fail "(e) fetch of missing files: expected exit 0, 2 npm calls and files equal to the originals"
fi
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "present and verified" && [ "$(npm_calls)" -eq 0 ]; then
  pass "(e) second run is a no-op"
else
  fail "(e) second run: expected a no-op"
fi

# --- (f) missing file, npm offline, tarballs cached: restored from the cache -------------------
rm "$d/geometry_pipeline_metadata_landmarks.binarypb"
run_fetch "$d"
if [ "$rc" -eq 0 ] && [ "$(npm_calls)" -eq 0 ] && contains "using cached" &&
   [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
  pass "(f) missing file restored from the cached tarballs without npm"
else
  fail "(f) restore from cache: expected exit 0 and no npm call"
fi

# --- (g) --force, downloaded package damaged: error, nothing installed ------------------------
data=$tmp/pkg_mesh/package/face_mesh_solution_packed_assets.data
landmark_start=$(( $(wc -c < "$src_models/geometry_pipeline_metadata_landmarks.binarypb") + \
                   $(wc -c < "$src_models/face_detection_short_range.tflite") ))
flip_byte "$data" $((landmark_start + 5000))
tar -czf "$tmp/tarballs/mediapipe-face_mesh-0.4.1657299874.tgz" -C "$tmp/pkg_mesh" package
before=$(fingerprint "$d")
cached_before=$(sha256sum < "$d/.cache/mediapipe-face_mesh-0.4.1657299874.tgz")
run_fetch_online "$d" --force
if [ "$rc" -ne 0 ] && [ "$(npm_calls)" -eq 2 ] && contains "face_landmark.tflite" &&
   contains "nothing was installed" && [ "$(fingerprint "$d")" = "$before" ] &&
   no_staging_left "$d" &&
   [ "$(sha256sum < "$d/.cache/mediapipe-face_mesh-0.4.1657299874.tgz")" = "$cached_before" ]; then
  pass "(g) damaged download: non-zero exit naming the file; installed files and cache untouched"
else
  fail "(g) damaged download: expected a non-zero exit and nothing installed"
fi

# --- (h) a loader whose ranges do not fit the bundle is refused ----------------------------------
make_face_mesh
truncate -s -1 "$tmp/pkg_mesh/package/face_mesh_solution_packed_assets.data"
tar -czf "$tmp/tarballs/mediapipe-face_mesh-0.4.1657299874.tgz" -C "$tmp/pkg_mesh" package
run_fetch_online "$d" --force
if [ "$rc" -ne 0 ] && contains "loader says" && [ "$(fingerprint "$d")" = "$before" ] &&
   no_staging_left "$d"; then
  pass "(h) bundle size not matching its loader: refused, nothing installed"
else
  fail "(h) bundle size not matching its loader: expected a refusal"
fi

finish
