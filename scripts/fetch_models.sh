#!/bin/sh
# Fetches SpeakUp's model files from two sources, checks them against the pinned SHA-256 sums in
# models/SHA256SUMS and installs them into the models folder:
#  - MediaPipe's npm packages (face mesh, face detection), with `npm pack`;
#  - Google's Face Landmarker bundle face_landmarker.task (a zip), from its official address with
#    curl (or wget), or, where that address cannot be reached, from a mirror folder holding the same
#    bytes. Its members are unpacked with unzip and checked against
#    models/face_landmarker_members.SHA256SUMS; two of them are installed (FROM_LANDMARKER below).
# The program itself never downloads anything: this script (run by scripts/setup.sh and
# `make models`) is the only way models arrive. POSIX sh: runs under sh (dash) and bash alike.
#
#   scripts/fetch_models.sh           install missing files; no-op (no npm, no network) when all
#                                     are verified
#   scripts/fetch_models.sh --force   download again and replace all files
#   scripts/fetch_models.sh --check   only verify and report missing/altered files; never downloads
#
# Environment:
#   SPEAKUP_MODELS_DIR      where the files go (default: <repo>/models). The pinned sums are always
#                           read from <repo>/models. npm tarballs are kept in $SPEAKUP_MODELS_DIR/.cache;
#                           face_landmarker.task itself is installed next to the models.
#   SPEAKUP_MODEL_MIRROR    a folder holding face_landmarker.task, used when the official address
#                           cannot be reached (default: <repo>/../shared/models when it exists;
#                           set to empty for no mirror). Its file is checked like a download.
#   SPEAKUP_LANDMARKER_URL  where face_landmarker.task is downloaded from (default: the official
#                           address below; tests point it at an unreachable or file:// address).
# Exit status: 0 all files verified; 1 a file is missing (--check), altered, or failed to download
# or verify; 2 bad usage.
set -eu

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
repo_root=$(dirname -- "$script_dir")
default_models_dir=$repo_root/models
models_dir=${SPEAKUP_MODELS_DIR:-$default_models_dir}
sums_file=$repo_root/models/SHA256SUMS
members_sums_file=$repo_root/models/face_landmarker_members.SHA256SUMS
cache_dir=$models_dir/.cache

# The packages and what each one gives. Versions are pinned; the files' sums are in SHA256SUMS.
FACE_MESH_PKG=@mediapipe/face_mesh@0.4.1657299874
FACE_DETECTION_PKG=@mediapipe/face_detection@0.4.1657300184
# Cut out of face_mesh's face_mesh_solution_packed_assets.data (ranges read from its loader .js).
FROM_FACE_MESH="face_landmark.tflite face_landmark_with_attention.tflite geometry_pipeline_metadata_landmarks.binarypb"
# Plain files in face_detection's package.
FROM_FACE_DETECTION="face_detection_short_range.tflite face_detection_full_range.tflite"
NPM_FILES="$FROM_FACE_MESH $FROM_FACE_DETECTION"
# Google's Face Landmarker bundle (float16, version 1; Apache-2.0). A zip; its four members are
# pinned in face_landmarker_members.SHA256SUMS and all are checked. Two are installed: the others
# are not needed here (face_detector.tflite is the same BlazeFace short-range graph as
# face_detection_short_range.tflite, in other bytes; the geometry file is byte for byte the one
# from face_mesh). The bundle itself is installed too (pinned in SHA256SUMS): --check verifies it,
# a deleted member comes back from it without the network, and MediaPipe Tasks load it as it is.
LANDMARKER_TASK=face_landmarker.task
LANDMARKER_OFFICIAL_URL=https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task
LANDMARKER_URL=${SPEAKUP_LANDMARKER_URL:-$LANDMARKER_OFFICIAL_URL}
LANDMARKER_MEMBERS="face_detector.tflite face_landmarks_detector.tflite face_blendshapes.tflite geometry_pipeline_metadata_landmarks.binarypb"
FROM_LANDMARKER="face_landmarks_detector.tflite face_blendshapes.tflite"
LANDMARKER_FILES="$LANDMARKER_TASK $FROM_LANDMARKER"
MODEL_FILES="$NPM_FILES $LANDMARKER_FILES"
# Seconds to reach the host (name lookup included): an unreachable address fails fast, then the
# mirror is tried.
CONNECT_TIMEOUT=10

# The mirror folder: SPEAKUP_MODEL_MIRROR when set (empty: none), else <repo>/../shared/models.
if [ -n "${SPEAKUP_MODEL_MIRROR+set}" ]; then
  mirror_dir=$SPEAKUP_MODEL_MIRROR
  mirror_origin="SPEAKUP_MODEL_MIRROR"
elif [ -d "$repo_root/../shared/models" ]; then
  mirror_dir=$(CDPATH='' cd -- "$repo_root/../shared/models" && pwd)
  mirror_origin="default mirror"
else
  mirror_dir=
  mirror_origin=
fi

say() { printf 'models: %s\n' "$*"; }
err() { printf 'models: error: %s\n' "$*" >&2; }
die() { err "$@"; exit 1; }

usage() {
  cat <<EOF
usage: scripts/fetch_models.sh [--force | --check]
  (no option)  fetch the missing model files; do nothing if all are present and verified
  --force      download the npm packages and face_landmarker.task again and replace every file
  --check      verify only: report missing or altered files, exit 1 if any; never downloads
Models go to \$SPEAKUP_MODELS_DIR (now: $models_dir).
face_landmarker.task comes from \$SPEAKUP_LANDMARKER_URL (now: $LANDMARKER_URL),
or else from the folder \$SPEAKUP_MODEL_MIRROR (now: ${mirror_dir:-none}).
EOF
}

mode=fetch
force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    --check) mode=check ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
if [ "$mode" = check ] && [ "$force" = 1 ]; then
  echo "fetch_models.sh: --check and --force exclude each other" >&2
  exit 2
fi

# The command a person should run to repair things, spelled for where they are.
script_cmd=scripts/fetch_models.sh
[ "$(pwd)" = "$repo_root" ] || script_cmd=$repo_root/scripts/fetch_models.sh
env_prefix=
[ "$models_dir" = "$default_models_dir" ] || env_prefix="SPEAKUP_MODELS_DIR=$models_dir "
fix_force="${env_prefix}${script_cmd} --force"
fix_plain="${env_prefix}${script_cmd}"
if [ -z "$env_prefix" ]; then
  fix_force="$fix_force (or: make models FORCE=1)"
  fix_plain="$fix_plain (or: make models)"
fi

[ -r "$sums_file" ] || die "cannot read the pinned sums $sums_file"
[ -r "$members_sums_file" ] || die "cannot read the pinned sums $members_sums_file"

# The pinned SHA-256 of file name $1, from $2 (default: SHA256SUMS).
expected_sum() {
  from=${2:-$sums_file}
  sum=$(awk -v name="$1" '$2 == name || $2 == "*" name { print $1 }' "$from")
  case $sum in
    *[!0-9a-f]*|'') die "$from has no single SHA-256 for $1" ;;
  esac
  [ ${#sum} -eq 64 ] || die "$from has no single SHA-256 for $1"
  printf '%s' "$sum"
}

actual_sum() {
  # Reading stdin keeps sha256sum from escaping odd file names in its output.
  sha256sum < "$1" | cut -d' ' -f1
}

# Looks at the files in $1 (those named in $3, default all of MODEL_FILES); sets n_files, n_ok,
# missing and altered (lists of names) and, when $2 = report, prints one line per file.
inspect() {
  dir=$1
  n_files=0
  n_ok=0
  missing=
  altered=
  for name in ${3:-$MODEL_FILES}; do
    n_files=$((n_files + 1))
    want=$(expected_sum "$name")
    if [ ! -f "$dir/$name" ]; then
      missing="$missing $name"
      [ "$2" != report ] || say "MISSING  $name"
      continue
    fi
    have=$(actual_sum "$dir/$name")
    if [ "$have" = "$want" ]; then
      n_ok=$((n_ok + 1))
      [ "$2" != report ] || say "ok       $name"
    else
      altered="$altered $name"
      [ "$2" != report ] || say "ALTERED  $name (expected sha256 $want, actual $have)"
    fi
  done
}

report_altered() {
  # $1: folder; $2: how to call it ('' for the folder's path); $3...: names. Prints expected vs
  # actual for each to stderr.
  dir=$1
  label=$2
  shift 2
  for name in "$@"; do
    err "${label:-$dir/}$name: SHA-256 mismatch: expected $(expected_sum "$name"), actual $(actual_sum "$dir/$name")"
  done
}

if [ "$mode" = check ]; then
  say "checking $models_dir against $sums_file"
  inspect "$models_dir" report
  if [ "$n_ok" -eq "$n_files" ]; then
    say "all $n_files files present and verified"
    exit 0
  fi
  say "$n_ok of $n_files files verified; missing:${missing:- none}; altered:${altered:- none}"
  if [ -n "$altered" ]; then
    say "fix: $fix_force"
  else
    say "fix: $fix_plain"
  fi
  exit 1
fi

# Which sources are needed: those with a missing file (all with --force).
need_npm=0
need_landmarker=0
if [ "$force" = 0 ]; then
  inspect "$models_dir" quiet
  if [ "$n_ok" -eq "$n_files" ]; then
    say "all $n_files files present and verified in $models_dir"
    exit 0
  fi
  if [ -n "$altered" ]; then
    # shellcheck disable=SC2086  # word splitting of the name list is intended
    report_altered "$models_dir" '' $altered
    err "these files differ from the pinned sums in $sums_file"
    err "fix: $fix_force"
    exit 1
  fi
  say "missing:$missing"
  for name in $missing; do
    case " $NPM_FILES " in
      *" $name "*) need_npm=1 ;;
      *) need_landmarker=1 ;;
    esac
  done
else
  say "--force: downloading again and replacing all $(echo "$MODEL_FILES" | wc -w) files in $models_dir"
  need_npm=1
  need_landmarker=1
fi

if [ "$need_npm" = 1 ]; then
  command -v npm > /dev/null 2>&1 || die "npm is not installed (scripts/setup.sh installs it)"
  command -v node > /dev/null 2>&1 || die "node is not installed (scripts/setup.sh installs it)"
  command -v tar > /dev/null 2>&1 || die "tar is not installed"
fi
if [ "$need_landmarker" = 1 ]; then
  command -v unzip > /dev/null 2>&1 || die "unzip is not installed (scripts/setup.sh installs it)"
fi

mkdir -p "$cache_dir"
staging=$(mktemp -d "$cache_dir/staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$staging/download" "$staging/out"
# The names put into $staging/out, to be verified and installed.
produced=

# --- face_landmarker.task: official address, else the mirror folder ------------------------------

# Downloads URL $1 to file $2 with curl (else wget). On failure returns 1 with the reason in
# $staging/download.err.
download() {
  rm -f "$2"
  if command -v curl > /dev/null 2>&1; then
    curl --fail --silent --show-error --location --connect-timeout "$CONNECT_TIMEOUT" \
      --speed-limit 1024 --speed-time 60 --output "$2" "$1" 2> "$staging/download.err"
  elif command -v wget > /dev/null 2>&1; then
    wget --quiet --tries=1 --dns-timeout="$CONNECT_TIMEOUT" --connect-timeout="$CONNECT_TIMEOUT" \
      --read-timeout=60 --output-document="$2" "$1" 2> "$staging/download.err" && return 0
    wget_status=$?
    # wget --quiet says nothing: its exit status is the reason (4: network failure, 8: HTTP error).
    if [ ! -s "$staging/download.err" ]; then
      case $wget_status in
        4) echo "wget: network failure (exit 4)" ;;
        8) echo "wget: the server answered with an error (exit 8)" ;;
        *) echo "wget failed (exit $wget_status)" ;;
      esac > "$staging/download.err"
    fi
    return 1
  else
    echo "neither curl nor wget is installed" > "$staging/download.err"
    false
  fi
}

# Tells what to do when face_landmarker.task could be got from nowhere, and exits 1. $1: why the
# official address failed; $2: why the mirror failed.
landmarker_unavailable() {
  err "cannot get $LANDMARKER_TASK (Face Landmarker, float16 v1; sha256 $(expected_sum "$LANDMARKER_TASK")):"
  err "  official address $LANDMARKER_URL: $1"
  err "  mirror: $2"
  err "nothing was installed. To fix, either"
  err "  - set SPEAKUP_MODEL_MIRROR to a folder holding $LANDMARKER_TASK (the same bytes), or"
  err "  - download $LANDMARKER_OFFICIAL_URL by hand"
  err "    (on a machine that reaches it) and put it at $models_dir/$LANDMARKER_TASK,"
  err "then run: $fix_plain"
  exit 1
}

# Puts a verified face_landmarker.task into $staging/download and sets bundle to its path; dies
# (with what to do) when neither the official address nor the mirror gives the pinned bytes.
fetch_landmarker() {
  want=$(expected_sum "$LANDMARKER_TASK")
  bundle=$staging/download/$LANDMARKER_TASK
  say "downloading $LANDMARKER_URL"
  if download "$LANDMARKER_URL" "$bundle"; then
    have=$(actual_sum "$bundle")
    if [ "$have" = "$want" ]; then
      say "  downloaded $LANDMARKER_TASK (sha256 verified)"
      bundle_origin=$LANDMARKER_URL
      return 0
    fi
    err "downloaded $LANDMARKER_TASK: SHA-256 mismatch: expected $want, actual $have"
    official_problem="the download does not match the pinned SHA-256 (actual $have)"
  else
    official_problem="not reachable ($(tail -n 1 "$staging/download.err"))"
    say "  $LANDMARKER_URL cannot be reached: $(tail -n 1 "$staging/download.err")"
  fi
  rm -f "$bundle"

  if [ -z "$mirror_dir" ]; then
    if [ -n "$mirror_origin" ]; then
      landmarker_unavailable "$official_problem" "none (SPEAKUP_MODEL_MIRROR is empty)"
    fi
    landmarker_unavailable "$official_problem" \
      "none (SPEAKUP_MODEL_MIRROR is not set and $repo_root/../shared/models does not exist)"
  fi
  if [ ! -f "$mirror_dir/$LANDMARKER_TASK" ]; then
    landmarker_unavailable "$official_problem" \
      "the folder $mirror_dir ($mirror_origin) holds no $LANDMARKER_TASK"
  fi
  say "  taking $LANDMARKER_TASK from the mirror $mirror_dir ($mirror_origin)"
  # The copy is what is checked (and installed), so the mirror cannot change under the check.
  cp "$mirror_dir/$LANDMARKER_TASK" "$bundle" || die "cannot copy $mirror_dir/$LANDMARKER_TASK"
  have=$(actual_sum "$bundle")
  if [ "$have" != "$want" ]; then
    rm -f "$bundle"
    err "$mirror_dir/$LANDMARKER_TASK: SHA-256 mismatch: expected $want, actual $have"
    landmarker_unavailable "$official_problem" \
      "$mirror_dir/$LANDMARKER_TASK ($mirror_origin) is not the pinned file (sha256 $have); refused"
  fi
  say "  $LANDMARKER_TASK from the mirror: sha256 verified"
  bundle_origin=$mirror_dir/$LANDMARKER_TASK
}

# Unpacks the members of face_landmarker.task, checks all four against their pinned sums and puts
# the ones to install (and a fetched bundle) into $staging/out.
get_landmarker() {
  if [ "$force" = 0 ] && [ -f "$models_dir/$LANDMARKER_TASK" ]; then
    # Verified above: an altered one stops the script before this.
    say "using the installed $models_dir/$LANDMARKER_TASK"
    bundle=$models_dir/$LANDMARKER_TASK
    bundle_origin=$bundle
  else
    fetch_landmarker
  fi
  mkdir "$staging/landmarker"
  # Only the named members are extracted, each to its own name in an empty folder; unzip checks
  # their CRC-32. stdin from /dev/null: unzip never waits for an answer.
  # shellcheck disable=SC2086  # word splitting of the member list is intended
  if ! unzip -qq -o "$bundle" $LANDMARKER_MEMBERS -d "$staging/landmarker" \
       < /dev/null > "$staging/unzip.err" 2>&1; then
    sed 's/^/  unzip: /' "$staging/unzip.err" >&2
    die "cannot unpack the members of $LANDMARKER_TASK (from $bundle_origin); nothing was installed"
  fi
  bad=
  for member in $LANDMARKER_MEMBERS; do
    want=$(expected_sum "$member" "$members_sums_file")
    if [ ! -f "$staging/landmarker/$member" ]; then
      err "$LANDMARKER_TASK has no member $member"
      bad=1
      continue
    fi
    have=$(actual_sum "$staging/landmarker/$member")
    if [ "$have" != "$want" ]; then
      err "$LANDMARKER_TASK member $member: SHA-256 mismatch: expected $want, actual $have"
      bad=1
    fi
  done
  if [ -n "$bad" ]; then
    err "the members of $LANDMARKER_TASK (from $bundle_origin) do not match the pinned sums in $members_sums_file; nothing was installed"
    exit 1
  fi
  say "  unpacked $LANDMARKER_TASK: all $(echo "$LANDMARKER_MEMBERS" | wc -w) members verified"
  for name in $FROM_LANDMARKER; do
    mv "$staging/landmarker/$name" "$staging/out/$name"
    produced="$produced $name"
  done
  if [ "$bundle" != "$models_dir/$LANDMARKER_TASK" ]; then
    mv "$bundle" "$staging/out/$LANDMARKER_TASK"
    produced="$produced $LANDMARKER_TASK"
  fi
}

# --- the npm packages ----------------------------------------------------------------------------

# npm's tarball name for a package spec: @scope/name@version -> scope-name-version.tgz
tarball_name() {
  printf '%s.tgz' "$1" | sed -e 's|^@||' -e 's|/|-|' -e 's|@|-|'
}

# Gets the tarball of package spec $1 (from the cache unless --force, else with npm pack) and
# extracts it into $staging/$2. Fresh tarballs stay in $staging/download until all files verify.
get_package() {
  spec=$1
  tgz=$(tarball_name "$spec")
  if [ "$force" = 0 ] && [ -f "$cache_dir/$tgz" ]; then
    say "using cached $cache_dir/$tgz"
    src=$cache_dir/$tgz
  else
    say "npm pack $spec"
    if ! packed=$(cd "$staging/download" && npm pack --loglevel=error --update-notifier=false "$spec"); then
      die "npm pack $spec failed (is the npm registry reachable?)"
    fi
    packed=$(printf '%s\n' "$packed" | tail -n 1)
    [ -f "$staging/download/$packed" ] || die "npm pack $spec did not produce a tarball (it said: $packed)"
    [ "$packed" = "$tgz" ] || mv "$staging/download/$packed" "$staging/download/$tgz"
    src=$staging/download/$tgz
  fi
  mkdir "$staging/$2"
  tar -xzf "$src" -C "$staging/$2" || die "cannot extract $src"
}

get_npm_files() {
  get_package "$FACE_MESH_PKG" face_mesh
  get_package "$FACE_DETECTION_PKG" face_detection

  mesh=$staging/face_mesh/package
  say "cutting files out of face_mesh_solution_packed_assets.data (ranges from its loader)"
  # shellcheck disable=SC2086  # word splitting of the name list is intended
  node "$script_dir/extract_packed_assets.mjs" \
    "$mesh/face_mesh_solution_packed_assets_loader.js" \
    "$mesh/face_mesh_solution_packed_assets.data" \
    "$staging/out" $FROM_FACE_MESH || die "cannot cut the model files out of $FACE_MESH_PKG"
  for name in $FROM_FACE_DETECTION; do
    [ -f "$staging/face_detection/package/$name" ] || die "$FACE_DETECTION_PKG has no $name"
    cp "$staging/face_detection/package/$name" "$staging/out/$name"
    say "  took $name from $FACE_DETECTION_PKG"
  done
  produced="$produced $NPM_FILES"
}

# The bundle first: without the network and a mirror it fails at once, before any npm download.
[ "$need_landmarker" = 0 ] || get_landmarker
[ "$need_npm" = 0 ] || get_npm_files

inspect "$staging/out" quiet "$produced"
if [ "$n_ok" -ne "$n_files" ]; then
  # shellcheck disable=SC2086
  [ -z "$altered" ] || report_altered "$staging/out" "downloaded " $altered
  [ -z "$missing" ] || err "not produced:$missing"
  err "the downloaded files do not match the pinned sums in $sums_file; nothing was installed"
  err "(the sources differ from the pinned ones, or a download was damaged)"
  exit 1
fi

# Everything verified: move into place. Renames within one file system, so each file appears whole.
# Without --force, files already present were verified above and are left as they are.
mkdir -p "$models_dir"
n_installed=0
for name in $produced; do
  if [ "$force" = 0 ] && [ -f "$models_dir/$name" ]; then
    say "kept $name (already verified)"
    continue
  fi
  chmod 0644 "$staging/out/$name"
  mv -f "$staging/out/$name" "$models_dir/$name"
  say "installed $name (sha256 $(expected_sum "$name"))"
  n_installed=$((n_installed + 1))
done
for tgz in "$staging"/download/*.tgz; do
  [ -f "$tgz" ] || continue
  mv -f "$tgz" "$cache_dir/"
done

# The end result, checked as --check would.
inspect "$models_dir" quiet
if [ "$n_ok" -ne "$n_files" ]; then
  err "installed $n_installed file(s), but $models_dir still lacks:${missing:- none}; altered:${altered:- none}"
  exit 1
fi
say "installed $n_installed file(s); all $n_files files present and verified in $models_dir"
