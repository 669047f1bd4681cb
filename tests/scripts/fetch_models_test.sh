#!/bin/sh
# Tests scripts/fetch_models.sh without the network. It copies the already fetched models from
# $SPEAKUP_MODELS_DIR (set by CTest; default <repo>/models) into temporary folders and runs the real
# script there with SPEAKUP_MODELS_DIR pointing at them. A fake `npm` first in PATH records every
# call; where a case needs a download, it hands out tarballs this test builds from the real models
# (with the packed bundle laid out in another order than MediaPipe's, so the ranges must really be
# read from the loader). face_landmarker.task: SPEAKUP_LANDMARKER_URL points at a closed loopback
# port (the official address is unreachable, at once) or at a file:// address (reachable), and
# SPEAKUP_MODEL_MIRROR at folders this test fills (the real bundle, a damaged one, none); bundles
# whose members are damaged are built with zip and pinned in a copy of the scripts and sums.
# POSIX sh: CTest runs it as `sh tests/scripts/fetch_models_test.sh`.
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
n_names=$(echo "$names" | wc -w | tr -d ' ')
task=face_landmarker.task
official_url=https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task

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

# face_landmarker.task: by default the official address is a closed port on this machine (refused
# at once, whatever the network; no proxy in between) and the mirror holds the real bundle (filled
# below). A case changes url, mirror (unset: no SPEAKUP_MODEL_MIRROR at all) or script for one run.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
unreachable_url=http://127.0.0.1:9/face_landmarker.task
landmarker_defaults() {
  url=$unreachable_url
  mirror=$tmp/mirror
  script=$fetch
}
landmarker_defaults

# Runs the script on folder $1 with the rest as arguments; sets out and rc. Clears the log.
run_fetch() {
  dir=$1
  shift
  : > "$npm_log"
  if [ "$mirror" = unset ]; then
    out=$(unset SPEAKUP_MODEL_MIRROR
          SPEAKUP_MODELS_DIR=$dir SPEAKUP_LANDMARKER_URL=$url sh "$script" "$@" 2>&1)
  else
    out=$(SPEAKUP_MODELS_DIR=$dir SPEAKUP_MODEL_MIRROR=$mirror SPEAKUP_LANDMARKER_URL=$url \
          sh "$script" "$@" 2>&1)
  fi
  rc=$?
  landmarker_defaults
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
mkdir -p "$tmp/mirror"
cp "$src_models/$task" "$tmp/mirror/$task"

# --- (a) all present: exit 0, one line, npm never called -----------------------------------------
d=$tmp/a
fresh_copy "$d"
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "all $n_names files present and verified" && [ "$(npm_calls)" -eq 0 ] &&
   [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]; then
  pass "(a) all files present: exit 0, 'present and verified', no npm call"
else
  fail "(a) all files present: expected exit 0, one 'present and verified' line and no npm call"
fi
run_fetch "$d" --check
if [ "$rc" -eq 0 ] && contains "all $n_names files present and verified" && [ "$(npm_calls)" -eq 0 ]; then
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
   contains "$((n_names - 1)) of $n_names files verified" && [ "$(npm_calls)" -eq 0 ] &&
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

# === face_landmarker.task =========================================================================
landmarker_files="$task face_landmarks_detector.tflite face_blendshapes.tflite"
lacks_landmarker() {
  for n in $landmarker_files; do [ ! -e "$1/$n" ] || return 1; done
}
# A folder with the npm files only (as left by the old script).
npm_only_copy() {
  fresh_copy "$1"
  for n in $landmarker_files; do rm "$1/$n"; done
}

# --- (i) official address unreachable: the mirror serves; bundle and two members installed ------
d=$tmp/i
npm_only_copy "$d"
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "cannot be reached" && contains "from the mirror $tmp/mirror" &&
   contains "all 4 members verified" && contains "installed face_landmarks_detector.tflite" &&
   contains "installed face_blendshapes.tflite" && contains "installed $task" &&
   [ "$(npm_calls)" -eq 0 ] && [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ] &&
   [ ! -e "$d/face_detector.tflite" ] && no_staging_left "$d"; then
  pass "(i) official address unreachable: bundle from the mirror, verified, both .tflite installed, no npm"
else
  fail "(i) mirror: expected exit 0, the bundle and its two members installed with the pinned sums"
fi
installed_sums=$(cd "$d" && sha256sum face_landmarks_detector.tflite face_blendshapes.tflite)
if [ "$installed_sums" = "c7d54204ce0448474c7f3fa9af494787c0965cbdd6f20fc72867e43046bd43d5  face_landmarks_detector.tflite
4f36dded049db18d76048567439b2a7f58f1daabc00d78bfe8f3ad396a2d2082  face_blendshapes.tflite" ]; then
  pass "(i) installed members have the digests of SOURCE.md"
else
  fail "(i) installed members: digests differ from SOURCE.md: $installed_sums"
fi
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "all $n_names files present and verified" &&
   [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ]; then
  pass "(i) second run is a no-op"
else
  fail "(i) second run: expected a no-op"
fi

# --- (j) member deleted: unpacked again from the installed bundle, no download -------------------
rm "$d/face_blendshapes.tflite"
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "using the installed $d/$task" && ! contains "downloading" &&
   contains "installed face_blendshapes.tflite" &&
   [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
  pass "(j) deleted member restored from the installed bundle without a download"
else
  fail "(j) deleted member: expected it unpacked from $d/$task"
fi

# --- (k) mirror file with a wrong digest: refused, the fix told, nothing installed ---------------
mkdir -p "$tmp/bad_mirror"
cp "$src_models/$task" "$tmp/bad_mirror/$task"
flip_byte "$tmp/bad_mirror/$task" 300000
d=$tmp/k
npm_only_copy "$d"
before=$(fingerprint "$d")
mirror=$tmp/bad_mirror
run_fetch "$d"
if [ "$rc" -ne 0 ] && contains "$tmp/bad_mirror/$task: SHA-256 mismatch" &&
   contains "is not the pinned file" && contains "refused" && contains "nothing was installed" &&
   contains "set SPEAKUP_MODEL_MIRROR to a folder holding $task" &&
   [ "$(fingerprint "$d")" = "$before" ] && lacks_landmarker "$d" && no_staging_left "$d" &&
   [ "$(npm_calls)" -eq 0 ]; then
  pass "(k) mirror file with a wrong digest: refused with the fix, nothing installed"
else
  fail "(k) wrong mirror file: expected a refusal naming the file and nothing installed"
fi

# --- (l) no mirror: the "what to do" message; following it works -------------------------------
mirror=$tmp/no_such_folder
run_fetch "$d"
if [ "$rc" -ne 0 ] && contains "cannot get $task" && contains "not reachable" &&
   contains "$tmp/no_such_folder (SPEAKUP_MODEL_MIRROR) holds no $task" &&
   contains "set SPEAKUP_MODEL_MIRROR to a folder holding $task" &&
   contains "download $official_url by hand" && contains "put it at $d/$task" &&
   [ "$(fingerprint "$d")" = "$before" ] && lacks_landmarker "$d" && no_staging_left "$d"; then
  pass "(l) mirror folder missing: says to set SPEAKUP_MODEL_MIRROR or where to put a hand download"
else
  fail "(l) mirror folder missing: expected the 'what to do' message and nothing installed"
fi
mirror=
run_fetch "$d"
if [ "$rc" -ne 0 ] && contains "SPEAKUP_MODEL_MIRROR is empty" && contains "by hand" &&
   lacks_landmarker "$d"; then
  pass "(l) SPEAKUP_MODEL_MIRROR empty: no mirror, the 'what to do' message"
else
  fail "(l) SPEAKUP_MODEL_MIRROR empty: expected the 'what to do' message"
fi
cp "$src_models/$task" "$d/$task"
mirror=
run_fetch "$d"
if [ "$rc" -eq 0 ] && contains "using the installed $d/$task" &&
   [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
  pass "(l) bundle put in the models folder by hand, as the message says: members installed from it"
else
  fail "(l) hand-placed bundle: expected its members installed"
fi

# --- (m) --check reports a missing or altered landmarker file, downloads nothing -----------------
d=$tmp/m
fresh_copy "$d"
rm "$d/face_landmarks_detector.tflite"
flip_byte "$d/$task" 1000
before=$(fingerprint "$d")
run_fetch "$d" --check
if [ "$rc" -ne 0 ] && contains "MISSING  face_landmarks_detector.tflite" &&
   contains "ALTERED  $task (expected sha256 64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff" &&
   contains "$((n_names - 2)) of $n_names files verified" && ! contains "downloading" &&
   [ "$(fingerprint "$d")" = "$before" ]; then
  pass "(m) --check reports the missing member and the altered bundle"
else
  fail "(m) --check: expected MISSING face_landmarks_detector.tflite and ALTERED $task"
fi
run_fetch "$d"
if [ "$rc" -ne 0 ] && contains "$d/$task: SHA-256 mismatch" && contains "--force" &&
   [ "$(fingerprint "$d")" = "$before" ]; then
  pass "(m) altered bundle without --force: refused, the fix is --force"
else
  fail "(m) altered bundle: expected a refusal pointing to --force"
fi

# --- (n) official address reachable: the mirror is not used; --force fetches again -------------
if command -v curl > /dev/null 2>&1; then
  mkdir -p "$tmp/official"
  cp "$src_models/$task" "$tmp/official/$task"
  d=$tmp/n
  npm_only_copy "$d"
  url=file://$tmp/official/$task
  mirror=
  run_fetch "$d"
  if [ "$rc" -eq 0 ] && contains "downloaded $task (sha256 verified)" && ! contains "mirror" &&
     [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
    pass "(n) bundle from the (file://) official address, verified, members installed, no mirror"
  else
    fail "(n) reachable official address: expected the bundle downloaded and installed"
  fi
  flip_byte "$d/face_blendshapes.tflite" 500
  make_face_mesh  # (g) and (h) left a damaged face_mesh tarball
  url=file://$tmp/official/$task
  mirror=
  run_fetch_online "$d" --force
  if [ "$rc" -eq 0 ] && contains "downloaded $task" && contains "installed face_blendshapes.tflite" &&
     contains "installed face_landmarks_detector.tflite" && contains "installed $task" &&
     [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
    pass "(n) --force downloads the bundle again and replaces an altered member"
  else
    fail "(n) --force: expected the bundle fetched again and every file replaced"
  fi
  # The official address answers with other bytes (a proxy's page, a damaged copy): the mirror.
  flip_byte "$tmp/official/$task" 2000000
  d=$tmp/n2
  npm_only_copy "$d"
  url=file://$tmp/official/$task
  run_fetch "$d"
  if [ "$rc" -eq 0 ] && contains "downloaded $task: SHA-256 mismatch" &&
     contains "from the mirror $tmp/mirror" &&
     [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
    pass "(n) official address giving other bytes: refused, the mirror serves"
  else
    fail "(n) wrong bytes from the official address: expected the mirror to serve"
  fi
else
  fail "(n) curl is not installed (scripts/setup.sh installs it)"
fi

# --- (o) damaged members: a copy of the scripts whose SHA256SUMS pins the damaged bundle -------
# (the bundle digest passes, so only the member checks stand in the way)
command -v zip > /dev/null 2>&1 || { fail "(o) zip is not installed (scripts/setup.sh installs it)"; finish; }
mkdir -p "$tmp/repo/scripts" "$tmp/repo/models" "$tmp/members"
cp "$fetch" "$repo_root/scripts/extract_packed_assets.mjs" "$tmp/repo/scripts/"
cp "$repo_root/models/face_landmarker_members.SHA256SUMS" "$tmp/repo/models/"
(cd "$tmp/members" && unzip -qq "$src_models/$task")
# Pins bundle $1 as face_landmarker.task in the copy and puts it in the copy's mirror.
pin_bundle() {
  rm -rf "$tmp/repo_mirror"
  mkdir -p "$tmp/repo_mirror"
  cp "$1" "$tmp/repo_mirror/$task"
  awk -v sum="$(sha256sum < "$1" | cut -d' ' -f1)" -v task="$task" \
    '$2 == task { $1 = sum; print $1 "  " $2; next } { print }' "$sums" > "$tmp/repo/models/SHA256SUMS"
}
run_copy() {
  script=$tmp/repo/scripts/fetch_models.sh
  mirror=${1:-$tmp/repo_mirror}
  run_fetch "$d"
}
d=$tmp/o
npm_only_copy "$d"
before=$(fingerprint "$d")

# The copy with the real bundle works (so what follows fails for the damage alone).
pin_bundle "$src_models/$task"
run_copy
if [ "$rc" -eq 0 ] && [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
  pass "(o) the copy of the scripts installs the real bundle"
else
  fail "(o) the copy of the scripts: expected the real bundle installed"
fi
npm_only_copy "$d"

# A well-formed zip (right CRCs) whose face_blendshapes.tflite has other bytes.
cp "$tmp/members/face_blendshapes.tflite" "$tmp/blend.orig"
flip_byte "$tmp/members/face_blendshapes.tflite" 4242
(cd "$tmp/members" && zip -q -0 -X "$tmp/bad_member.zip" face_detector.tflite \
  face_landmarks_detector.tflite geometry_pipeline_metadata_landmarks.binarypb face_blendshapes.tflite)
cp "$tmp/blend.orig" "$tmp/members/face_blendshapes.tflite"
pin_bundle "$tmp/bad_member.zip"
run_copy
if [ "$rc" -ne 0 ] && contains "member face_blendshapes.tflite: SHA-256 mismatch" &&
   contains "nothing was installed" && [ "$(fingerprint "$d")" = "$before" ] &&
   lacks_landmarker "$d" && no_staging_left "$d"; then
  pass "(o) bundle with a member of other bytes: refused, nothing installed (not even the good member)"
else
  fail "(o) damaged member: expected a refusal naming face_blendshapes.tflite and nothing installed"
fi

# A zip without face_landmarks_detector.tflite.
(cd "$tmp/members" && zip -q -0 -X "$tmp/no_member.zip" face_detector.tflite \
  geometry_pipeline_metadata_landmarks.binarypb face_blendshapes.tflite)
pin_bundle "$tmp/no_member.zip"
run_copy
if [ "$rc" -ne 0 ] && contains "face_landmarks_detector.tflite" && contains "nothing was installed" &&
   [ "$(fingerprint "$d")" = "$before" ] && lacks_landmarker "$d" && no_staging_left "$d"; then
  pass "(o) bundle lacking a member: refused, nothing installed"
else
  fail "(o) missing member: expected a refusal and nothing installed"
fi

# The real bundle with a byte of a member changed in place (its CRC-32 no longer fits): unzip fails.
cp "$src_models/$task" "$tmp/bad_crc.task"
flip_byte "$tmp/bad_crc.task" 1000000
pin_bundle "$tmp/bad_crc.task"
run_copy
if [ "$rc" -ne 0 ] && contains "cannot unpack the members" && contains "nothing was installed" &&
   [ "$(fingerprint "$d")" = "$before" ] && lacks_landmarker "$d" && no_staging_left "$d"; then
  pass "(o) bundle with a bad CRC: unzip's error shown, nothing installed"
else
  fail "(o) bad CRC: expected a refusal and nothing installed"
fi

# The default mirror is <repo>/../shared/models: the copy has none, so the message says so.
pin_bundle "$src_models/$task"
run_copy unset
if [ "$rc" -ne 0 ] &&
   contains "SPEAKUP_MODEL_MIRROR is not set and $tmp/repo/../shared/models does not exist" &&
   lacks_landmarker "$d"; then
  pass "(o) no SPEAKUP_MODEL_MIRROR and no <repo>/../shared/models: the message names both"
else
  fail "(o) default mirror absent: expected a message naming SPEAKUP_MODEL_MIRROR and the default"
fi
mkdir -p "$tmp/shared/models"
cp "$src_models/$task" "$tmp/shared/models/$task"
run_copy unset
if [ "$rc" -eq 0 ] && contains "from the mirror $tmp/shared/models (default mirror)" &&
   [ "$(fingerprint "$d")" = "$(fingerprint "$src_models")" ]; then
  pass "(o) default mirror <repo>/../shared/models used when SPEAKUP_MODEL_MIRROR is not set"
else
  fail "(o) default mirror: expected $tmp/shared/models to serve"
fi

finish
