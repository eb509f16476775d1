"""make bench-loader: the sharded cache and its loader on a generated set (48 clips at 640x360, faces at Tv 4 of
224x224): shard building (MB of shards written per second of the shards stage, best of ROUNDS, forced), the
rebuild after one clip changed (its bytes replaced by another clip's, so its faces and mel change: seconds of the
whole rerun, and how many shards units ran; a few bytes appended to the copy make each round's clip new to the cache), the loader's samples per second (batches of 8, Ta 300, training
augmentation with masks, one thread), the model's training step on the same batches (the engine, 2 threads), and
that step again with the prefetcher building the next batch beside it (does it fight the engine for the cores?).
Target: the loader at least 5x faster than training consumes, and one shards unit per changed clip. Last line: JSON."""
import json
import os
import re
import shutil
import subprocess

from benchlib import ROOT, ROUNDS, build, report, run, say

os.environ.setdefault("OMP_NUM_THREADS", "2")
emotion, bench = build("emotion"), build("bench-model")
folder = os.path.join(ROOT, "data", "bench-loader")
data = os.path.join(folder, "data")
raw = os.path.join(data, "MELD.Raw")
pipeline = os.path.join(folder, "p.yaml")

if not os.path.isdir(raw):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(data)
    run([emotion, "synth", "--out", raw, "--seed", "5", "--dialogues", "8,2,2", "--utterances", "4", "--width", "640", "--height", "360"])
with open(pipeline, "w") as f:
    f.write("""stages:
  probe: {uses: probe, map: {path: MELD.Raw, glob: "**/*.mp4"}}
  clean: {uses: clean, deps: [MELD.Raw, probe]}
  faces: {uses: faces, map: {path: MELD.Raw, glob: "**/*.mp4"}, params: {frames: 4}}
  mel: {uses: mel, map: {path: MELD.Raw, glob: "**/*.mp4"}}
  shards: {uses: shards, map: faces, join: [mel, {stage: clean, under: rows}], params: {shards: 4}}
  shard_index: {uses: shard_index, deps: [shards, clean]}
""")


def emotion_run(*extra):
    """Runs the pipeline; returns (seconds of the shards stage, shards units run, whole seconds)."""
    result = subprocess.run([emotion, "run", pipeline, "--workspace", data, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"benchmark: emotion run failed: {result.stderr[-2000:]}")
    done = re.search(r"shards: done, (\d+) run(?:, \d+ cached)? in ([0-9.]+)s", result.stderr)
    whole = float(re.search(r"; ([0-9.]+) s$", result.stdout.strip()).group(1))
    return (float(done.group(2)), int(done.group(1))) if done else (0.0, 0), whole


emotion_run()
shards = os.path.join(data, "out", "p", "shards")
megabytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(shards) for f in files if f.endswith(".safetensors")) / 1e6
builds = [emotion_run("--force", "shards", "--force", "shard_index")[0][0] for _ in range(ROUNDS)]
say(f"shards: {megabytes:.1f} MB built in {min(builds):.2f} s (best of {ROUNDS}): {megabytes / min(builds):.1f} MB/s")

victim = os.path.join(raw, "train_splits", "dia1_utt1.mp4")
donors = [os.path.join(raw, "train_splits", "dia0_utt0.mp4"), os.path.join(raw, "train_splits", "dia2_utt2.mp4")]
rebuilds, units = [], []
for round in range(ROUNDS):
    os.remove(victim)
    with open(donors[round % 2], "rb") as source, open(victim, "wb") as target:
        target.write(source.read() + os.urandom(16))
    (_, ran), whole = emotion_run()
    rebuilds.append(whole)
    units.append(ran)
say(f"rebuild after one clip changed (probe, faces, mel, clean, shards, index): {min(rebuilds):.2f} s; shards units run: {units}")

index = os.path.join(data, "out", "p", "shard_index", "train", "index.json")
loads = [json.loads(run([bench, "--part", "loader", "--index", index, "--root", shards]).strip().splitlines()[-1]) for _ in range(ROUNDS)]
loader = max(r["loader_samples_per_s"] for r in loads)
train = max(r["train_samples_per_s"] for r in loads)
say(f"loader: {loader:.1f} samples/s (one thread, augmentation on); training step: {train:.2f} samples/s; ratio {loader / train:.0f}x (target >= 5x)")
step = min(r["train_step_ms"] for r in loads)
overlapped = min(r["train_step_with_prefetch_ms"] for r in loads)
wait = min(r["data_wait_ms"] for r in loads)
say(f"training step alone {step:.0f} ms; with the prefetcher building the next batch beside it {overlapped:.0f} ms ({(overlapped / step - 1) * 100:+.1f}%); data wait {wait:.1f} ms")
report({"rounds": ROUNDS, "shard_build_mb_per_s": megabytes / min(builds), "shard_megabytes": megabytes, "rebuild_one_clip_s": min(rebuilds),
        "rebuild_one_clip_units": max(units), "loader_samples_per_s": loader, "train_samples_per_s": train, "loader_over_train": loader / train,
        "train_step_ms": step, "train_step_with_prefetch_ms": overlapped, "data_wait_ms": wait})
