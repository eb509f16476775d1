"""The anchor of `make bench-train`: the same model (bench_model_torch.EmotionModel) trained with PyTorch
DistributedDataParallel, gloo backend, N processes on this machine, one thread each, the same per-worker batch and shapes.
Usage: bench_train_torch.py WORKERS BATCH TV TA STEPS. Prints one JSON object on its last line."""
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model_torch import EmotionModel  # noqa: E402


def worker(rank, world, batch, tv, ta, steps, port, results):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = DistributedDataParallel(EmotionModel())
    named = list(model.module.named_parameters())
    groups = [{"params": [p for n, p in named if n.startswith(k)], "lr": lr} for k, lr in [("visual.", 1e-4), ("audio.", 5e-4)]]
    groups.append({"params": [p for n, p in named if not n.startswith(("visual.", "audio."))], "lr": 1e-3})
    optimizer = torch.optim.Adam(groups, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    torch.manual_seed(rank)
    frames, mel, labels = torch.randn(batch, tv, 3, 224, 224), torch.randn(batch, 1, 64, ta), torch.arange(batch) % 7
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        loss_fn(model(frames, mel), labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
    if rank == 0:
        results.put(statistics.mean(times[1:]) if len(times) > 1 else times[0])
    dist.destroy_process_group()


def main():
    world, batch, tv, ta, steps = (int(a) for a in sys.argv[1:6])
    results = mp.get_context("spawn").SimpleQueue()
    port = 29500 + os.getpid() % 1000
    mp.spawn(worker, args=(world, batch, tv, ta, steps, port, results), nprocs=world, join=True)
    step = results.get()
    print(f"PyTorch {torch.__version__} DDP (gloo), {world} processes x batch {batch}, 1 thread each: step {step * 1000:.0f} ms, "
          f"{world * batch / step:.2f} samples/s")
    print(json.dumps({"torch_ddp_step_ms": step * 1000, "torch_ddp_samples_per_s": world * batch / step, "torch_version": torch.__version__}))


if __name__ == "__main__":
    main()
