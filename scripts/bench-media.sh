#!/usr/bin/env bash
# make bench-media: the faces and mel stages on 1280x720 H.264/AAC clips (generated: drawn faces, speech,
# about 3-4 s each), with 1 and 2 workers, beside `ffmpeg -i X -f null -` (decode only, the floor).
# Stage times come from `emotion run` and include its start-up and the landmark model's load. Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product emotion >/dev/null
emotion=$PWD/.build/release/emotion
bench=$PWD/data/bench/media
clips=12

if [[ $(ls "$bench/clips" 2>/dev/null | wc -l) != "$clips" ]]; then
  rm -rf "$bench" && mkdir -p "$bench"
  "$emotion" synth --out "$bench/synth" --width 1280 --height 720 --dialogues 4,0,0 --utterances 3 --no-faults >/dev/null
  mkdir -p "$bench/clips" && cp "$bench"/synth/train_splits/*.mp4 "$bench/clips/"
fi
cat > "$bench/media.yaml" <<'YAML'
stages:
  faces: {uses: faces, map: {path: clips, glob: "*.mp4"}}
  mel: {uses: mel, map: {path: clips, glob: "*.mp4"}}
  faces_one: {uses: faces, map: {path: clips, glob: "dia0_utt0.mp4"}}
YAML

now() { date +%s.%N; }
per_clip() { python3 -c "print(f'{($2 - $1) / $clips:.4f}')"; }

t0=$(now); for f in "$bench"/clips/*.mp4; do ffmpeg -v quiet -i "$f" -f null -; done; t1=$(now)
decode=$(per_clip $t0 $t1)
seconds=$(python3 -c "
import subprocess, glob
d=[float(subprocess.run(['ffprobe','-v','error','-show_entries','format=duration','-of','csv=p=0',f],capture_output=True,text=True).stdout) for f in glob.glob('$bench/clips/*.mp4')]
print(f'{sum(d)/len(d):.2f}')")
echo "clips: $clips at 1280x720, mean $seconds s; ffmpeg decode only: $decode s/clip"

stage() {  # stage workers -> seconds per clip
  rm -rf "$bench/cache" "$bench/out"
  local a b; a=$(now); "$emotion" run "$bench/media.yaml" --workspace "$bench" --until "$1" -j "$2" >/dev/null 2>&1; b=$(now)
  per_clip $a $b
}
face1=$(stage faces 1); face2=$(stage faces 2); mel1=$(stage mel 1); mel2=$(stage mel 2)
one=$(stage faces_one 1)
# What each further clip costs once the process is up and the landmark model (about 1 s) is loaded.
marginal=$(python3 -c "print(f'{($face1 * $clips - $one * $clips) / ($clips - 1):.4f}')")
echo "faces: ${face1} s/clip with 1 worker (${marginal} s/clip after start-up and model load), ${face2} s/clip with 2"
echo "       vs decode-only: $(python3 -c "print(f'{$face1 / $decode:.2f}')")x all-in, $(python3 -c "print(f'{$marginal / $decode:.2f}')")x per further clip (target <= 2x);"
echo "       $(python3 -c "print(f'{$face2 / $decode:.2f}')")x with 2 workers (ffmpeg's decode also uses both cores: 2 frame threads)"
echo "mel:   ${mel1} s/clip with 1 worker, ${mel2} s/clip with 2 (includes decoding the audio)"
ours_s=$(for f in "$bench"/clips/*.mp4; do "$emotion" mel "$f" --out "$bench/one.npy" --repeats 20; done \
  | python3 -c "import sys, re; v=[float(re.search(r'log-mel ([0-9.]+) ms', l).group(1)) for l in sys.stdin]; print(sum(v)/len(v)/1000)")
echo "log-mel computation alone (in-process, decoded audio, mean of 20): $ours_s s/clip"
librosa=null
if python3 -c "import librosa" 2>/dev/null; then
  librosa_s=$(python3 -W ignore - "$bench/clips" 2>/dev/null <<'PY'
import glob, sys, time, librosa, numpy as np
files = sorted(glob.glob(sys.argv[1] + "/*.mp4"))
audio = [librosa.load(f, sr=16000, mono=True)[0] for f in files]
mel = lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64), top_db=80)
mel(audio[0])  # compile numba's kernels before timing
t = time.time()
for _ in range(20):
    for y in audio: mel(y)
print((time.time() - t) / len(files) / 20)
PY
)
  librosa=$(python3 -c "print(f'{$librosa_s / $ours_s:.2f}')")
  echo "librosa melspectrogram + power_to_db alone (warmed up, mean of 20): $librosa_s s/clip: ours is ${librosa}x faster (target >= 5x)"
else
  echo "librosa is not installed (pip install librosa): no comparison"
fi
face_rate=$(python3 -c "print(f'{1 / $face2:.2f}')")
echo "{\"clips\": $clips, \"mean_clip_s\": $seconds, \"decode_only_s_per_clip\": $decode, \"face_s_per_clip\": $face1, \"face_vs_decode\": $(python3 -c "print(f'{$face1 / $decode:.2f}')"), \"face_vs_decode_2w\": $(python3 -c "print(f'{$face2 / $decode:.2f}')"), \"face_clips_per_s_2w\": $face_rate, \"mel_s_per_clip\": $mel1, \"mel_s_per_clip_2w\": $mel2, \"mel_vs_librosa_speedup\": $librosa}"
