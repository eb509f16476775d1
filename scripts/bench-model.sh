#!/usr/bin/env bash
# make bench-model: one training step (forward, backward, Adam) of EmotionModel(cross_attention) at batch 8 clips,
# Tv 4 frames of 224x224, Ta 300, dropout 0.3, on 2 threads, release build; the encoders alone; one-clip
# inference; peak RSS; convolution GFLOP/s against sgemm on the same shapes. Where PyTorch is importable, the
# same model in PyTorch runs in this invocation and the ratios are printed. Last line: JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product bench-model >/dev/null
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
ours=$(.build/release/bench-model "$@" | tee /dev/stderr | tail -1)
torch=null
if python3 -c "import torch" 2>/dev/null; then
  echo "PyTorch on this machine, same model and shapes, 2 threads (scripts/bench_model_torch.py):"
  torch=$(python3 scripts/bench_model_torch.py 8 4 300 3 | tee /dev/stderr | tail -1)
else
  echo "PyTorch is not importable here (pip install torch==2.13.0+cpu): no same-run anchor."
fi
echo "Anchor from the issue (PyTorch 2.13 on the reference machine, AVX-512): train step 1473 ms, one-clip inference 57.5 ms, peak RSS 1702 MB."
python3 - "$ours" "$torch" <<'PY'
import json, sys
ours = json.loads(sys.argv[1])
torch = json.loads(sys.argv[2]) if sys.argv[2] != "null" else None
if torch:
    ours.update({k: v for k, v in torch.items()})
    ours["train_step_ratio"] = round(ours["train_step_ms"] / torch["torch_train_step_ms"], 3)
    ours["infer_ratio"] = round(ours["infer_one_clip_ms"] / torch["torch_infer_one_clip_ms"], 3)
    ours["peak_rss_ratio"] = round(ours["peak_rss_mb"] / torch["torch_peak_rss_mb"], 3)
    print(f"ours / PyTorch: train step {ours['train_step_ratio']} (target <= 1.0), one-clip inference {ours['infer_ratio']}, "
          f"peak RSS {ours['peak_rss_ratio']}")
print(json.dumps(ours, sort_keys=True))
PY
