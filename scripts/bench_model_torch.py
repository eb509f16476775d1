"""The anchor of `make bench-model`: the same EmotionModel (MODEL.md) in PyTorch, CPU, 2 threads, same shapes.

The model is the one an export ships (Sources/Export/Resources/emotion_model.py), which the export tests hold to the
engine's logits for every fusion. Prints one JSON object on its last line. `EmotionModel` is imported from here by
bench_train_torch.py and the DDP oracle.
"""
import json
import os
import resource
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "Export", "Resources"))
from emotion_model import EmotionModel  # noqa: E402,F401

REPEATS = 3


def median_time(fn):
    fn()
    samples = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main():
    global REPEATS
    B, TV, TA, REPEATS = (int(a) for a in sys.argv[1:5]) if len(sys.argv) >= 5 else (8, 4, 300, 3)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = EmotionModel()
    groups = [{"params": [p for n, p in model.named_parameters() if n.startswith(k)], "lr": lr}
              for k, lr in [("visual.", 1e-4), ("audio.", 5e-4)]]
    groups.append({"params": [p for n, p in model.named_parameters() if not n.startswith(("visual.", "audio."))], "lr": 1e-3})
    optimizer = torch.optim.Adam(groups, weight_decay=1e-4)
    frames, mel = torch.randn(B, TV, 3, 224, 224), torch.randn(B, 1, 64, TA)
    labels = torch.arange(B) % 7
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        optimizer.zero_grad()
        loss_fn(model(frames, mel), labels).backward()
        optimizer.step()

    def bf16_step():
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(frames, mel), labels)
        loss.backward()
        optimizer.step()

    model.train()
    train = median_time(step)
    # PyTorch's own bf16: CPU autocast (bf16 operands for convolutions and matrix products, fp32 master weights).
    train_bf16 = median_time(bf16_step)
    model.eval()
    one_frames, one_mel = frames[:1], mel[:1]
    with torch.no_grad():
        infer = median_time(lambda: model(one_frames, one_mel))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"PyTorch {torch.__version__}: train step {train * 1000:.0f} ms ({B / train:.2f} samples/s), "
          f"bf16 autocast {train_bf16 * 1000:.0f} ms, one-clip inference {infer * 1000:.1f} ms, peak RSS {rss:.0f} MB")
    print(json.dumps({"torch_train_step_ms": round(train * 1000), "torch_bf16_train_step_ms": round(train_bf16 * 1000),
                      "torch_infer_one_clip_ms": infer * 1000,
                      "torch_peak_rss_mb": round(rss), "torch_version": torch.__version__}))


if __name__ == "__main__":
    main()
