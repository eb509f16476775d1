"""make bench-model: one training step (forward, backward, Adam) of EmotionModel(cross_attention) at batch 8 clips,
Tv 4 frames of 224x224, Ta 300, dropout 0.3, on 2 threads, release build; the encoders alone; one-clip inference;
peak RSS; convolution GFLOP/s against sgemm on the same shapes. Where PyTorch is importable, the same model in
PyTorch (scripts/bench_model_torch.py) runs in the same rounds, alternating with ours, and best is compared to
best. Extra arguments go to the bench-model program. Last line: JSON."""
import json
import os
import sys

from benchlib import ROOT, ROUNDS, build, importable, report, run, say

os.environ.setdefault("OMP_NUM_THREADS", "2")
program = build("bench-model")
extra = sys.argv[1:]


def last_json(output):
    say(output.rstrip())
    return json.loads(output.strip().splitlines()[-1])


say(f"EmotionModel on this machine: batch 8 clips, Tv 4 x 224x224, Ta 300, dropout 0.3, release build, {os.environ['OMP_NUM_THREADS']} threads")
torch_available = importable("torch")
if not torch_available:
    say("PyTorch is not importable here (pip install torch==2.13.0+cpu): no same-run anchor.")
models, torches = [], []
for number in range(1, ROUNDS + 1):
    say(f"round {number}:")
    models.append(last_json(run([program, "--part", "model", *extra])))
    if torch_available:
        torches.append(last_json(run([sys.executable, os.path.join(ROOT, "scripts", "bench_model_torch.py"), "8", "4", "300", "3"])))
figures = {"rounds": ROUNDS}
# The encoders and the convolutions, each in its own process so that each peak RSS is its own.
for part in ("visual", "audio", "convs"):
    figures.update(last_json(run([program, "--part", part, *extra])))
figures.update(min(models, key=lambda r: r["train_step_ms"]))
figures["infer_one_clip_ms"] = min(r["infer_one_clip_ms"] for r in models)
figures["peak_rss_mb"] = max(r["peak_rss_mb"] for r in models)
figures["train_step_ms_all_rounds"] = [r["train_step_ms"] for r in models]
if all("bf16_train_step_ms" in r for r in models):
    # Best against best, both from these rounds.
    figures["bf16_train_step_ms"] = min(r["bf16_train_step_ms"] for r in models)
    figures["bf16_train_step_ratio"] = round(figures["bf16_train_step_ms"] / figures["train_step_ms"], 3)
    figures["bf16_infer_one_clip_ms"] = min(r["bf16_infer_one_clip_ms"] for r in models)
    say(f"bf16 / fp32, best of {ROUNDS} rounds each: train step {figures['bf16_train_step_ratio']} (target <= 0.65); "
        f"one-clip inference {figures['bf16_infer_one_clip_ms']:.1f} ms against {figures['infer_one_clip_ms']:.1f} ms")
if torches:
    figures["torch_train_step_ms"] = min(r["torch_train_step_ms"] for r in torches)
    figures["torch_infer_one_clip_ms"] = min(r["torch_infer_one_clip_ms"] for r in torches)
    figures["torch_peak_rss_mb"] = max(r["torch_peak_rss_mb"] for r in torches)
    figures["torch_version"] = torches[0]["torch_version"]
    figures["torch_bf16_train_step_ms"] = min(r["torch_bf16_train_step_ms"] for r in torches)
    figures["torch_train_step_ms_all_rounds"] = [r["torch_train_step_ms"] for r in torches]
    for ours, theirs, name in (("train_step_ms", "torch_train_step_ms", "train_step_ratio"), ("infer_one_clip_ms", "torch_infer_one_clip_ms", "infer_ratio"),
                               ("peak_rss_mb", "torch_peak_rss_mb", "peak_rss_ratio")):
        figures[name] = round(figures[ours] / figures[theirs], 3)
    say(f"best of {ROUNDS} rounds each, ours / PyTorch: train step {figures['train_step_ratio']} (target <= 1.0), "
        f"one-clip inference {figures['infer_ratio']}, peak RSS {figures['peak_rss_ratio']}")
report(figures)
