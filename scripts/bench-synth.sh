#!/usr/bin/env bash
# make bench-synth: clips per second that `emotion synth` generates (speech, drawing, H.264/AAC encoding)
# at 640x360 and 1280x720, on all cores. Clips last as long as their sentence (about 2-4 s); the mean is
# printed beside the rate. The last line is JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product emotion >/dev/null
emotion=.build/release/emotion
work=data/bench/synth
rm -rf "$work" && mkdir -p "$work"

measure() {  # width height dialogues -> "clips_per_s mean_seconds"
  local out=$work/$1x$2
  local t0 t1
  t0=$(date +%s.%N)
  "$emotion" synth --out "$out" --width "$1" --height "$2" --dialogues "$3,0,0" --utterances 5 --no-faults >/dev/null
  t1=$(date +%s.%N)
  python3 - "$out" "$t0" "$t1" <<'PY'
import csv, sys
out, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
def seconds(t):
    h, m, rest = t.split(":"); s, ms = rest.split(",")
    return int(h) * 3600 + int(m) * 60 + int(s) + float("0." + ms)
rows = list(csv.DictReader(open(f"{out}/train_sent_emo.csv", encoding="utf-8", newline="")))
mean = sum(seconds(r["EndTime"]) - seconds(r["StartTime"]) for r in rows) / len(rows)
print(f"{len(rows) / (t1 - t0):.2f} {mean:.2f}")
PY
}

read small small_mean < <(measure 640 360 6)
echo "640x360:  ${small} clips/s (mean clip ${small_mean} s)"
read large large_mean < <(measure 1280 720 2)
echo "1280x720: ${large} clips/s (mean clip ${large_mean} s)"
echo "{\"clips_per_s_640x360\": $small, \"clips_per_s_1280x720\": $large, \"mean_clip_s_640x360\": $small_mean, \"mean_clip_s_1280x720\": $large_mean}"
