#!/bin/sh
# `speakup mesh` end to end: real models, real GStreamer, real files. Checks output formats, the
# rendered image and video, and that every bad input gets a clear message while the other inputs
# are still processed and the exit status says something failed.
set -u
bin=${SPEAKUP_BIN:?SPEAKUP_BIN must point at the speakup program}
data=tests/data
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; failures=$((failures + 1)); }
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }

# JSON Lines: one object per image, faces where MediaPipe finds them.
"$bin" mesh "$data/faces/pair_bar.jpg" "$data/faces/cat_noface.png" > "$work/out.jsonl" 2> "$work/err"
check "two images give exit 0" "[ $? -eq 0 ]"
python3 - "$work/out.jsonl" > "$work/summary" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    keys = {"source", "frame", "timestamp_ms", "width", "height", "faces", "timings_ms"}
    assert keys <= d.keys(), d.keys()
    for f in d["faces"]:
        assert {"id", "score", "box", "landmarks", "pose", "yaw", "pitch", "roll"} <= f.keys()
        assert len(f["landmarks"]) == 468 and len(f["pose"]) == 16 and len(f["box"]) == 4
    print(d["source"].split("/")[-1], len(d["faces"]))
PY
check "JSON fields and face counts (pair_bar 2, cat 0)" "grep -qx 'pair_bar.jpg 2' '$work/summary' && grep -qx 'cat_noface.png 0' '$work/summary'"

# Bad inputs among good ones: each named on stderr, the good ones still answered, exit status 1.
printf 'not an image\n' > "$work/text.jpg"
head -c 3000 "$data/faces/astronaut.png" > "$work/truncated.png"
"$bin" mesh "$data/faces/frontal_jesper.jpg" /nonexistent/face.jpg "$work/text.jpg" "$work/truncated.png" \
  "$data/faces/astronaut.png" > "$work/mixed.jsonl" 2> "$work/mixed.err"
status=$?
check "bad inputs make the exit status non-zero" "[ $status -ne 0 ]"
check "the good inputs are still processed" "[ \$(wc -l < '$work/mixed.jsonl') -eq 2 ]"
check "missing file is named" "grep -q \"cannot read '/nonexistent/face.jpg'\" '$work/mixed.err'"
check "unknown format is named" "grep -q \"text.jpg' is not an image or video\" '$work/mixed.err'"
check "truncated image is named" "grep -q 'truncated.png' '$work/mixed.err'"

"$bin" mesh --camera /dev/video99 > /dev/null 2> "$work/camera.err"
check "missing camera: exit status non-zero" "[ $? -ne 0 ]"
check "missing camera: clear message" "grep -q 'no camera at /dev/video99' '$work/camera.err'"

"$bin" mesh "$data/faces/frontal_jesper.jpg" --models-dir /nonexistent > /dev/null 2> "$work/models.err"
check "missing models: exit status non-zero" "[ $? -ne 0 ]"
check "missing models: names the fix" "grep -q 'make models' '$work/models.err'"

# CSV: a header, one row per face, 12 fixed columns + 3 per landmark.
"$bin" mesh "$data/faces/pair_bar.jpg" --format csv > "$work/out.csv"
check "CSV has a header and one row per face" "[ \$(wc -l < '$work/out.csv') -eq 3 ]"
check "CSV rows have 12 + 3 x 468 columns" "[ \$(tail -n 1 '$work/out.csv' | awk -F, '{print NF}') -eq 1416 ]"

# OBJ: 468 vertices and the canonical triangles per face; --refine adds the irises (478).
"$bin" mesh "$data/faces/frontal_jesper.jpg" --format obj --refine > "$work/out.obj"
check "OBJ has 478 vertices with --refine" "[ \$(grep -c '^v ' '$work/out.obj') -eq 478 ]"
check "OBJ has triangles" "[ \$(grep -c '^f ' '$work/out.obj') -gt 800 ]"

# --model landmarker (MediaPipe Face Landmarker): 478 landmarks, 52 named blendshapes, pose; the scores
# compared with Google's own FaceLandmarker golden for the image (made with MediaPipe's short-range
# detector: a single photo's scores depend on the detector's box).
"$bin" mesh --model landmarker --detector short "$data/faces/pair_bar.jpg" "$data/faces/frontal_jesper.jpg" > "$work/lm.jsonl"
check "landmarker: exit 0" "[ $? -eq 0 ]"
check "landmarker: 478 landmarks, 52 blendshapes in model order, pose, scores as MediaPipe's" "python3 - '$work/lm.jsonl' '$data/goldens/landmarker' <<'PY'
import json, sys
counts = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    name = d['source'].split('/')[-1]
    counts[name] = len(d['faces'])
    golden = json.load(open(sys.argv[2] + '/' + name + '.json'))
    for f in d['faces']:
        assert len(f['landmarks']) == 478 and len(f['pose']) == 16
        assert all(k in f for k in ('yaw', 'pitch', 'roll'))
        names = [b['name'] for b in f['blendshapes']]
        assert len(names) == 52 and names[0] == '_neutral' and names[25] == 'jawOpen', names
        # the golden face nearest by landmark 1 (nose tip)
        g = min(golden['faces'], key=lambda g: abs(g['landmarks'][1][0] - f['landmarks'][1][0]))
        worst = max(abs(a['score'] - b['score']) for a, b in zip(f['blendshapes'], g['blendshapes']))
        assert worst < 0.02, worst
    assert 'blendshapes' in d['timings_ms']
assert counts == {'pair_bar.jpg': 2, 'frontal_jesper.jpg': 1}, counts
PY"
"$bin" mesh --model landmarker "$data/faces/pair_bar.jpg" --format csv > "$work/lm.csv"
check "landmarker CSV: 12 + 3 x 478 + 52 columns, blendshape names in the header" \
  "[ \$(tail -n 1 '$work/lm.csv' | awk -F, '{print NF}') -eq 1498 ] && head -n 1 '$work/lm.csv' | grep -q ',_neutral,browDownLeft,' && head -n 1 '$work/lm.csv' | grep -q ',noseSneerRight\$'"
"$bin" mesh "$data/faces/pair_bar.jpg" > "$work/default.jsonl"
check "the default model is still the 468-point mesh without blendshapes" \
  "python3 -c \"import json; f=json.loads(open('$work/default.jsonl').readline())['faces'][0]; assert len(f['landmarks'])==468 and 'blendshapes' not in f\""
"$bin" mesh --model landmarker --refine "$data/faces/pair_bar.jpg" > /dev/null 2> "$work/lmrefine.err"
check "--refine with the landmarker is refused with a message" "[ $? -eq 2 ] && grep -q 'model mesh' '$work/lmrefine.err'"

# --detector auto (the default): full range for still images, where people stand further away
# (group_bar.jpg: a couple and people behind them), short range (MediaPipe's) for videos.
faces_in() { grep -o '"id"' "$1" | wc -l; }
untimed() { sed 's/"timings_ms":{[^}]*}//'; }
for d in auto short full; do "$bin" mesh --detector "$d" "$data/faces/group_bar.jpg" | untimed > "$work/group_$d.jsonl"; done
"$bin" mesh "$data/faces/group_bar.jpg" | untimed > "$work/group_default.jsonl"
check "auto is the default" "cmp -s '$work/group_default.jsonl' '$work/group_auto.jsonl'"
check "a still image gets the full-range detector: more faces than short range" \
  "cmp -s '$work/group_auto.jsonl' '$work/group_full.jsonl' && [ \$(faces_in '$work/group_auto.jsonl') -gt \$(faces_in '$work/group_short.jsonl') ]"
for d in auto short full; do
  "$bin" mesh --detector "$d" --max-frames 30 "$data/video/face_motion.mp4" | untimed > "$work/video_$d.jsonl"
done
check "a video gets the short-range detector" "cmp -s '$work/video_auto.jsonl' '$work/video_short.jsonl' && ! cmp -s '$work/video_auto.jsonl' '$work/video_full.jsonl'"

# --render: an annotated image, and an annotated video that itself still shows the face.
"$bin" mesh "$data/faces/frontal_jesper.jpg" --render "$work/drawn.png" > /dev/null
check "rendered PNG written" "[ -s '$work/drawn.png' ]"
"$bin" mesh "$data/video/face_motion.mp4" --max-faces 1 --render "$work/drawn.mp4" > "$work/video.jsonl"
check "video: 120 frames, one face each, one id" "python3 -c \"
import json
d=[json.loads(l) for l in open('$work/video.jsonl')]
assert len(d)==120 and all(len(x['faces'])==1 for x in d) and {f['id'] for x in d for f in x['faces']}=={1}
\""
"$bin" mesh "$work/drawn.mp4" --max-frames 10 > "$work/redrawn.jsonl"
check "the rendered video decodes and still has the face" "[ \$(grep -c '\"id\"' '$work/redrawn.jsonl') -eq 10 ]"
"$bin" mesh "$data/faces/frontal_jesper.jpg" "$data/faces/astronaut.png" --render "$work/two.png" > /dev/null 2> "$work/render.err"
check "--render with two inputs is refused with a message" "[ $? -ne 0 ] && grep -q 'exactly one' '$work/render.err'"

echo "mesh_command_test: $failures failure(s)"
[ "$failures" -eq 0 ]
