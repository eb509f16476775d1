"""make bench-media: the faces and mel stages on 1280x720 H.264/AAC clips (generated: drawn faces, speech, about
3-4 s each), with 1 and 2 workers, beside `ffmpeg -i X -f null -` (decode only, the floor); the faces stage on
two-person scenes (`synth --people 2`: a listener beside the speaker, cuts, portraits) with each speaker rule
(`largest`, and `active`, which decodes a clip showing several faces a second time at the analysis rate to follow
lips; `active` with each detector: hog, hog+cnn, cnn), beside those clips' decode-only time; and the log-mel computation alone beside librosa's (when importable).
Stage times come from `emotion run` and include its start-up and the landmark model's load. Every figure is the best
of ROUNDS, anchors alternating with ours. Last line: JSON."""
import glob
import os
import re
import shutil
import subprocess
import sys

from benchlib import ROOT, ROUNDS, best, build, importable, report, run, say

CLIPS = 12
DETECTORS = {"hog": "hog", "hog_cnn": "hog+cnn", "cnn": "cnn"}
SPARSE = (3, 6)  # analysis_detect_every beside the default 1
emotion = build("emotion")
bench = os.path.join(ROOT, "data", "bench", "media")
clips = sorted(glob.glob(os.path.join(bench, "clips", "*.mp4")))
if len(clips) != CLIPS:
    shutil.rmtree(bench, ignore_errors=True)
    os.makedirs(os.path.join(bench, "clips"))
    run([emotion, "synth", "--out", os.path.join(bench, "synth"), "--width", "1280", "--height", "720",
         "--dialogues", "4,0,0", "--utterances", "3", "--no-faults"])
    for clip in glob.glob(os.path.join(bench, "synth", "train_splits", "*.mp4")):
        shutil.copy(clip, os.path.join(bench, "clips"))
    clips = sorted(glob.glob(os.path.join(bench, "clips", "*.mp4")))
two = sorted(glob.glob(os.path.join(bench, "two", "*.mp4")))
if len(two) != CLIPS:
    shutil.rmtree(os.path.join(bench, "two"), ignore_errors=True)
    shutil.rmtree(os.path.join(bench, "synth2"), ignore_errors=True)
    os.makedirs(os.path.join(bench, "two"))
    run([emotion, "synth", "--out", os.path.join(bench, "synth2"), "--width", "1280", "--height", "720", "--people", "2",
         "--dialogues", "4,0,0", "--utterances", "3", "--no-faults"])
    for clip in glob.glob(os.path.join(bench, "synth2", "train_splits", "*.mp4")):
        shutil.copy(clip, os.path.join(bench, "two"))
    two = sorted(glob.glob(os.path.join(bench, "two", "*.mp4")))
with open(os.path.join(bench, "media.yaml"), "w") as f:
    f.write('stages:\n'
            '  faces: {uses: faces, map: {path: clips, glob: "*.mp4"}}\n'
            '  mel: {uses: mel, map: {path: clips, glob: "*.mp4"}}\n'
            '  faces_one: {uses: faces, map: {path: clips, glob: "dia0_utt0.mp4"}}\n'
            '  faces_largest: {uses: faces, map: {path: two, glob: "*.mp4"}, params: {speaker: largest}}\n'
            '  faces_active_one: {uses: faces, map: {path: two, glob: "dia0_utt0.mp4"}, params: {speaker: active, detector: hog+cnn}}\n'
            + "".join(f'  faces_active_every{n}: {{uses: faces, map: {{path: two, glob: "*.mp4"}}, params: {{speaker: active, detector: hog+cnn, analysis_detect_every: {n}}}}}\n'
                      for n in SPARSE)
            + "".join(f'  faces_active_{name}: {{uses: faces, map: {{path: two, glob: "*.mp4"}}, params: {{speaker: active, detector: {detector}}}}}\n'
                      for name, detector in DETECTORS.items()))

durations = [float(run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", clip])) for clip in clips]
mean_clip = sum(durations) / len(durations)


def decoder(files):
    def decode():
        for clip in files:
            subprocess.run(["ffmpeg", "-v", "quiet", "-i", clip, "-f", "null", "-"], check=True)
    return decode


decode_all = decoder(clips)


def stage(name, workers):
    return [emotion, "run", os.path.join(bench, "media.yaml"), "--workspace", bench, "--until", name, "-j", str(workers)]


def fresh(_):
    for folder in ("cache", "out"):
        shutil.rmtree(os.path.join(bench, folder), ignore_errors=True)


runs = {"decode": decode_all, "faces_1w": stage("faces", 1), "faces_2w": stage("faces", 2), "mel_1w": stage("mel", 1),
        "mel_2w": stage("mel", 2), "faces_one": stage("faces_one", 1), "decode_two": decoder(two),
        "faces_largest": stage("faces_largest", 1), "faces_active_one": stage("faces_active_one", 1),
        **{f"faces_active_every{n}": stage(f"faces_active_every{n}", 1) for n in SPARSE}, **{f"faces_active_{name}": stage(f"faces_active_{name}", 1) for name in DETECTORS}}
seconds, _ = best(runs, before=fresh)
per_clip = {name: value / CLIPS for name, value in seconds.items()}
decode = per_clip["decode"]
# What each further clip costs once the process is up and the landmark model (about 1 s) is loaded.
marginal = (seconds["faces_1w"] - seconds["faces_one"]) / (CLIPS - 1)
say(f"clips: {CLIPS} at 1280x720, mean {mean_clip:.2f} s; ffmpeg decode only: {decode:.4f} s/clip (best of {ROUNDS})")
say(f"faces: {per_clip['faces_1w']:.4f} s/clip with 1 worker ({marginal:.4f} s/clip after start-up and model load), "
    f"{per_clip['faces_2w']:.4f} s/clip with 2")
say(f"       vs decode-only: {per_clip['faces_1w'] / decode:.2f}x all-in, {marginal / decode:.2f}x per further clip (target <= 2x);")
say(f"       {per_clip['faces_2w'] / decode:.2f}x with 2 workers (ffmpeg's decode also uses both cores: 2 frame threads)")
say(f"mel:   {per_clip['mel_1w']:.4f} s/clip with 1 worker, {per_clip['mel_2w']:.4f} s/clip with 2 (includes decoding the audio)")
decode_two = per_clip["decode_two"]
say(f"two-person scenes ({CLIPS} at 1280x720, 1 worker): ffmpeg decode only {decode_two:.4f} s/clip; faces with speaker: largest "
    f"{per_clip['faces_largest']:.4f} s/clip ({per_clip['faces_largest'] / decode_two:.2f}x decode); speaker: active with")
for name, detector in DETECTORS.items():
    say(f"       detector {detector}: {per_clip[f'faces_active_{name}']:.4f} s/clip ({per_clip[f'faces_active_{name}'] / decode_two:.2f}x decode"
        + ("; target <= 3x)" if detector == "hog+cnn" else ")"))
marginal_active = (seconds["faces_active_hog_cnn"] - seconds["faces_active_one"]) / (CLIPS - 1)
say(f"       hog+cnn per further clip, after start-up and the landmark model's load: {marginal_active:.4f} s/clip ({marginal_active / decode_two:.2f}x decode)")
for n in SPARSE:
    say(f"       hog+cnn, the detector on every {n}th analysis frame (analysis_detect_every: {n}): {per_clip[f'faces_active_every{n}']:.4f} s/clip "
        f"({per_clip[f'faces_active_every{n}'] / decode_two:.2f}x decode)")

LIBROSA = r'''
import glob, sys, time, librosa
files = sorted(glob.glob(sys.argv[1] + "/*.mp4"))
audio = [librosa.load(f, sr=16000, mono=True)[0] for f in files]
mel = lambda y: librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64), top_db=80)
mel(audio[0])  # numba compiles its kernels before the timing
t = time.perf_counter()
for _ in range(20):
    for y in audio: mel(y)
print((time.perf_counter() - t) / len(files) / 20)
'''


def ours_mel(planning="estimate"):
    """Seconds per clip of the log-mel computation alone; `measure` is FFTW's timed planning, which the stage does
    not use (its bits can change from run to run), measured to say what reproducibility costs."""
    times = [float(re.search(r"log-mel ([0-9.]+) ms", run([emotion, "mel", clip, "--out", os.path.join(bench, "one.npy"), "--repeats", "20",
                                                             "--fft-planning", planning])).group(1))
             for clip in clips]
    return sum(times) / len(times) / 1000


have_librosa = importable("librosa")
ours_rounds, measured_rounds, librosa_rounds = [], [], []
for _ in range(ROUNDS):
    ours_rounds.append(ours_mel())
    measured_rounds.append(ours_mel("measure"))
    if have_librosa:
        librosa_rounds.append(float(run([sys.executable, "-W", "ignore", "-c", LIBROSA, os.path.join(bench, "clips")])))
ours, measured = min(ours_rounds), min(measured_rounds)
say(f"log-mel computation alone (in-process, decoded audio, mean of 20, best of {ROUNDS}): {ours:.6f} s/clip with FFTW_ESTIMATE plans "
    f"(the stage's: the same bits in every run); {measured:.6f} s/clip with FFTW_MEASURE plans (timed, not reproducible): "
    f"estimate costs {ours / measured:.2f}x")
speedup = None
if have_librosa:
    speedup = min(librosa_rounds) / ours
    say(f"librosa melspectrogram + power_to_db alone (warmed up, same rounds): {min(librosa_rounds):.6f} s/clip: ours is {speedup:.2f}x faster (target >= 5x)")
else:
    say("librosa is not importable here (pip install librosa): no comparison")

report({"clips": CLIPS, "rounds": ROUNDS, "mean_clip_s": mean_clip, "decode_only_s_per_clip": decode, "face_s_per_clip": per_clip["faces_1w"],
        "face_marginal_s_per_clip": marginal, "face_vs_decode": per_clip["faces_1w"] / decode, "face_vs_decode_2w": per_clip["faces_2w"] / decode,
        "face_clips_per_s_2w": 1 / per_clip["faces_2w"], "mel_s_per_clip": per_clip["mel_1w"], "mel_s_per_clip_2w": per_clip["mel_2w"],
        "two_person_decode_only_s_per_clip": decode_two, "two_person_face_largest_s_per_clip": per_clip["faces_largest"],
        **{f"two_person_face_active_{name}_s_per_clip": per_clip[f"faces_active_{name}"] for name in DETECTORS},
        **{f"two_person_face_active_{name}_vs_decode": per_clip[f"faces_active_{name}"] / decode_two for name in DETECTORS},
        **{f"two_person_face_active_every{n}_vs_decode": per_clip[f"faces_active_every{n}"] / decode_two for n in SPARSE},
        "two_person_face_active_hog_cnn_marginal_s_per_clip": marginal_active, "two_person_face_active_hog_cnn_marginal_vs_decode": marginal_active / decode_two,
        "log_mel_s_per_clip": ours, "log_mel_measure_planning_s_per_clip": measured, "mel_vs_librosa_speedup": speedup})
