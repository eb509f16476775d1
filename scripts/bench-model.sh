#!/usr/bin/env bash
# make bench-model: one training step (forward, backward, Adam) of EmotionModel(cross_attention) at batch 8 clips,
# Tv 4 frames of 224x224, Ta 300, dropout 0.3, on 2 threads, release build; the encoders alone; one-clip
# inference; peak RSS; convolution GFLOP/s against sgemm on the same shapes. Where PyTorch is importable, the
# same model in PyTorch runs in this invocation and the ratios are printed. Last line: JSON.
#
# This machine's speed drifts by tens of percent over tens of seconds (a shared VM), so the model and its
# PyTorch twin run alternately, ROUNDS times each, and the best of each is compared.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product bench-model >/dev/null
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
rounds=${ROUNDS:-2}
torch_available=false
python3 -c "import torch" 2>/dev/null && torch_available=true
echo "EmotionModel on this machine: batch 8 clips, Tv 4 x 224x224, Ta 300, dropout 0.3, release build, $OMP_NUM_THREADS threads"
$torch_available || echo "PyTorch is not importable here (pip install torch==2.13.0+cpu): no same-run anchor."
models=() torches=() parts=()
for round in $(seq "$rounds"); do
  echo "round $round:"
  models+=("$(.build/release/bench-model --part model "$@" | grep -v '^EmotionModel on this machine' | tee /dev/stderr | tail -1)")
  if $torch_available; then
    torches+=("$(python3 scripts/bench_model_torch.py 8 4 300 3 | tee /dev/stderr | tail -1)")
  fi
done
# The encoders and the convolutions, each in its own process so that each peak RSS is its own.
for part in visual audio convs; do
  parts+=("$(.build/release/bench-model --part "$part" "$@" | grep -v '^EmotionModel on this machine' | tee /dev/stderr | tail -1)")
done
echo "Anchor from the issue (PyTorch 2.13 on the reference machine, AVX-512): train step 1473 ms, one-clip inference 57.5 ms, peak RSS 1702 MB."
python3 - "${#models[@]}" "${models[@]}" "${torches[@]+"${torches[@]}"}" "${parts[@]}" <<'PY'
import json, sys
n = int(sys.argv[1])
rest = [json.loads(a) for a in sys.argv[2:]]
models, rest = rest[:n], rest[n:]
torches = [r for r in rest if "torch_train_step_ms" in r]
parts = [r for r in rest if "torch_train_step_ms" not in r]
best = lambda runs, key, pick=min: pick(r[key] for r in runs)
figures = {}
for p in parts:
    figures.update(p)
figures.update(min(models, key=lambda r: r["train_step_ms"]))
figures["infer_one_clip_ms"] = best(models, "infer_one_clip_ms")
figures["peak_rss_mb"] = best(models, "peak_rss_mb", max)
figures["train_step_ms_all_rounds"] = [r["train_step_ms"] for r in models]
if torches:
    figures["torch_train_step_ms"] = best(torches, "torch_train_step_ms")
    figures["torch_infer_one_clip_ms"] = best(torches, "torch_infer_one_clip_ms")
    figures["torch_peak_rss_mb"] = best(torches, "torch_peak_rss_mb", max)
    figures["torch_version"] = torches[0]["torch_version"]
    figures["torch_train_step_ms_all_rounds"] = [r["torch_train_step_ms"] for r in torches]
    figures["train_step_ratio"] = round(figures["train_step_ms"] / figures["torch_train_step_ms"], 3)
    figures["infer_ratio"] = round(figures["infer_one_clip_ms"] / figures["torch_infer_one_clip_ms"], 3)
    figures["peak_rss_ratio"] = round(figures["peak_rss_mb"] / figures["torch_peak_rss_mb"], 3)
    print(f"best of {n} rounds each, ours / PyTorch: train step {figures['train_step_ratio']} (target <= 1.0), "
          f"one-clip inference {figures['infer_ratio']}, peak RSS {figures['peak_rss_ratio']}")
print(json.dumps(figures, sort_keys=True))
PY
