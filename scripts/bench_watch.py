"""make bench-watch: `emotion watch` and `emotion infer` at MODEL.md's input sizes on 1280x720 generated clips (MELD's
frame size): a cross_attention model (hash-initialised: speed does not depend on the weights) reading 8 face frames of
224x224 and 3 s of audio. `watch` runs as fast as it decodes on the clips played back to back, 2 predictions a second,
writing the annotated video: its real-time factor is seconds of input per second of wall time (at least 1.0: it keeps
up with a live source on this machine, no window dropped). `infer` labels the clips one by one: clips per second.
The same in int8 (`--precision int8`: the face trunk on integer instructions, with activation scales from two random
clips) beside it. Best of ROUNDS rounds. Last line: JSON with watch_realtime_factor, infer_clips_per_s and their _int8
figures."""
import json
import os
import re
import subprocess
import tempfile
import time

from benchlib import ROOT, ROUNDS, build, report, run, say

emotion = build("emotion")
bench_model = build("bench-model")
folder = tempfile.mkdtemp(prefix="bench-watch-")
model = os.path.join(folder, "model")
run([bench_model, "--part", "model-folder", "--out", model, "--frames", "8", "--size", "224", "--mel-frames", "300"])
data = os.path.join(folder, "clips")
run([emotion, "synth", "--out", data, "--seed", "3", "--dialogues", "0,0,2", "--utterances", "3", "--width", "1280", "--height", "720",
     "--fps", "24", "--no-faults"])
clips = sorted(os.path.join(root, name) for root, _, names in os.walk(data) for name in names if name.endswith(".mp4"))
listing = os.path.join(folder, "list.txt")
with open(listing, "w") as out:
    out.writelines(f"file '{clip}'\n" for clip in clips)
long = os.path.join(folder, "long.mp4")
subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", long], check=True)
seconds = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", long], capture_output=True,
                               text=True, check=True).stdout)
say(f"{len(clips)} clips of 1280x720 ({seconds:.1f} s back to back); cross_attention at Tv 8 x 224, Ta 300; {os.cpu_count()} cores")

factors, rates, dropped = {"fp32": [], "int8": []}, {"fp32": [], "int8": []}, []
for number in range(1, ROUNDS + 1):
    session = os.path.join(folder, "session.json")
    for precision in ("fp32", "int8"):
        result = subprocess.run([emotion, "watch", "--model", model, "--input", long, "--session", session, "--rate", "2", "--precision", precision,
                                 "--out", os.path.join(folder, "annotated.mp4")], cwd=ROOT, capture_output=True, text=True, check=True)
        factors[precision].append(float(re.search(r"real-time factor ([0-9.]+)", result.stderr).group(1)))
    live = subprocess.run([emotion, "watch", "--model", model, "--input", long, "--session", session, "--rate", "2", "--realtime",
                           "--out", os.path.join(folder, "annotated.mp4")], cwd=ROOT, capture_output=True, text=True, check=True)
    dropped.append(json.load(open(session))["session_info"]["dropped_windows"])
    for precision in ("fp32", "int8"):
        started = time.perf_counter()
        run([emotion, "infer", "--model", model, "--precision", precision, *clips])
        rates[precision].append(len(clips) / (time.perf_counter() - started))
    say(f"round {number}: watch real-time factor {factors['fp32'][-1]:.2f}, int8 {factors['int8'][-1]:.2f} (annotated video written); at the "
        f"file's own pace {dropped[-1]} window(s) dropped; infer {rates['fp32'][-1]:.2f} clips/s, int8 {rates['int8'][-1]:.2f}")
figures = {"rounds": ROUNDS, "watch_realtime_factor": max(factors["fp32"]), "watch_realtime_factor_int8": max(factors["int8"]),
           "watch_dropped_windows_realtime": min(dropped), "infer_clips_per_s": max(rates["fp32"]), "infer_clips_per_s_int8": max(rates["int8"]),
           "input_seconds": seconds, "cores": os.cpu_count()}
say(f"watch keeps up with real time: {'yes' if figures['watch_realtime_factor'] >= 1 else 'no'} (factor {figures['watch_realtime_factor']:.2f}, "
    f"target >= 1.0; int8 {figures['watch_realtime_factor_int8']:.2f}); infer {figures['infer_clips_per_s']:.2f} clips/s, "
    f"int8 {figures['infer_clips_per_s_int8']:.2f}")
report(figures)
