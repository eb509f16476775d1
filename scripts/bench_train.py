"""make bench-train: data-parallel training on this machine. The exchange first: memcpy of the model's gradient and its
all-reduce over 3 worker processes (bus bandwidth, NCCL's convention: algorithm bandwidth x 2(N-1)/N). Then training
steps of the bench-model model (cross_attention, batch 8 per worker, Tv 4 x 224x224, Ta 300, dropout 0.3) on generated
batches with 1, 2 and 3 workers of one thread each: step time, 2-worker scaling, the exchange's share of a 3-worker step,
3-worker throughput; the frozen recipe's step (the face trunk frozen, its features cached: 1 worker, same batch) against
the full one, and the face_features stage's extraction rate (Tv 8 and the flips, 1 engine thread); where PyTorch is importable, PyTorch DDP (gloo, one thread per process) with 3 processes, and with 1 and
2 for its own scaling on this machine, in the same rounds.
Every figure is the best of ROUNDS rounds. Last line: JSON."""
import json
import os
import sys

from benchlib import ROOT, ROUNDS, build, importable, report, run, say

program = build("bench-train")
build("emotion")
worker = os.path.join(ROOT, ".build", "release", "emotion-worker")
steps = os.environ.get("STEPS", "3")


def last_json(output):
    say(output.rstrip())
    return json.loads(output.strip().splitlines()[-1])


torch_available = importable("torch")
if not torch_available:
    say("PyTorch is not importable here (pip install torch==2.13.0+cpu): no DDP anchor.")
exchanges, pairs, runs, torches = [], [], {1: [], 2: [], 3: []}, {1: [], 2: [], 3: []}
frozen_runs, extracts = [], []
for round in range(1, ROUNDS + 1):
    say(f"round {round}:")
    exchanges.append(last_json(run([program, "exchange", "--ranks", "3", "--iterations", "10"])))
    pairs.append(last_json(run([program, "exchange", "--ranks", "2", "--iterations", "10"])))
    for workers in (1, 2, 3):
        runs[workers].append(last_json(run([program, "steps", "--workers", str(workers), "--steps", steps, "--worker", worker])))
    frozen_runs.append(last_json(run([program, "steps", "--workers", "1", "--steps", str(max(int(steps), 4)), "--worker", worker, "--frozen"])))
    extracts.append(last_json(run([program, "extract", "--clips", "4"])))
    if torch_available:
        for workers in (1, 2, 3):
            torches[workers].append(last_json(run([sys.executable, os.path.join(ROOT, "scripts", "bench_train_torch.py"), str(workers), "8", "4", "300",
                                                   steps])))
exchange = max(exchanges, key=lambda r: r["allreduce_bus_gb_per_s"])
best = {w: min(r, key=lambda x: x["step_ms"]) for w, r in runs.items()}
figures = {
    "rounds": ROUNDS,
    "memcpy_gb_per_s": max(r["memcpy_gb_per_s"] for r in exchanges),
    "allreduce_bus_gb_per_s": exchange["allreduce_bus_gb_per_s"],
    "allreduce_ms": exchange["allreduce_ms"],
    "allreduce_bus_gb_per_s_2w": max(r["allreduce_bus_gb_per_s"] for r in pairs),
    "gradient_floats": exchange["gradient_floats"],
    "step_ms_1w": best[1]["step_ms"],
    "step_ms_2w": best[2]["step_ms"],
    "step_ms_3w": best[3]["step_ms"],
    "scaling_2w": 2 * best[1]["step_ms"] / best[2]["step_ms"],
    "exchange_pct_3w": best[3]["exchange_pct"],
    "samples_per_s_3w": best[3]["samples_per_s"],
    "frozen_step_ms": min(r["step_ms"] for r in frozen_runs),
    "extract_clips_per_s": max(r["extract_clips_per_s"] for r in extracts),
    "cores": os.cpu_count(),
}
figures["frozen_speedup"] = figures["step_ms_1w"] / figures["frozen_step_ms"]
say(f"all-reduce bus bandwidth {figures['allreduce_bus_gb_per_s']:.2f} GB/s = {figures['allreduce_bus_gb_per_s'] / figures['memcpy_gb_per_s'] * 100:.0f}% "
    f"of memcpy (target >= 50%); scaling_2w {figures['scaling_2w']:.2f} (target >= 1.8); exchange {figures['exchange_pct_3w']:.1f}% of a 3-worker "
    f"step (target < 5%); {figures['samples_per_s_3w']:.2f} samples/s with 3 workers on {figures['cores']} cores")
say(f"frozen trunk on cached features: step {figures['frozen_step_ms']:.0f} ms against {figures['step_ms_1w']:.0f} ms end to end, "
    f"{figures['frozen_speedup']:.1f}x (target >= 10x); extraction {figures['extract_clips_per_s']:.2f} clips/s per engine thread")
if torch_available:
    torch_step = {w: min(r["torch_ddp_step_ms"] for r in runs_) for w, runs_ in torches.items()}
    figures["torch_ddp_samples_per_s_3w"] = max(r["torch_ddp_samples_per_s"] for r in torches[3])
    figures["torch_ddp_scaling_2w"] = 2 * torch_step[1] / torch_step[2]
    figures["torch_ddp_step_ms_1w"] = torch_step[1]
    figures["torch_version"] = torches[3][0]["torch_version"]
    figures["samples_per_s_3w_ratio"] = figures["samples_per_s_3w"] / figures["torch_ddp_samples_per_s_3w"]
    say(f"ours / PyTorch DDP, 3 workers: {figures['samples_per_s_3w_ratio']:.2f} (target >= 1.0); PyTorch DDP's own scaling_2w here: "
        f"{figures['torch_ddp_scaling_2w']:.2f}")
report(figures)
