"""PyTorch DDP oracle for TrainingTests: N processes (gloo), the same initial weights and the same per-rank batches as the
Swift run, MODEL.md's training rule (Adam groups with L2 weight decay, warm-up then cosine, label smoothing 0.1,
clip_grad_norm_ 1.0), dropout 0. Usage: ddp_oracle.py INIT BATCHES WORKERS STEPS WARMUP TOTAL OUT; rank 0 writes its
state_dict to OUT. The model is emotion_model.py's (through scripts/bench_model_torch.py; cross_attention, PyTorch's state_dict names)."""
import math
import os
import sys

import safetensors.torch as st
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from bench_model_torch import EmotionModel  # noqa: E402


def factor(s, warmup, total):
    if s <= warmup:
        return s / max(warmup, 1)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min((s - warmup) / (total - warmup), 1)))


def worker(rank, world, init, batches, steps, warmup, total, out, port):
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    model = EmotionModel(p=0.0)
    model.load_state_dict(st.load_file(init), strict=True)
    ddp = DistributedDataParallel(model)
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if n.startswith(k)], "lr": lr} for k, lr in [("visual.", 1e-4), ("audio.", 5e-4)]]
    groups.append({"params": [p for n, p in named if not n.startswith(("visual.", "audio."))], "lr": 1e-3})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4, foreach=False)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: factor(e + 1, warmup, total))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    data = st.load_file(batches)
    ddp.train()
    for step in range(steps):
        optimizer.zero_grad()
        key = f"r{rank}.s{step}"
        loss_fn(ddp(data[key + ".frames"], data[key + ".mel"]), data[key + ".labels"]).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    if rank == 0:
        st.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    init, batches, world, steps, warmup, total, out = sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:7]), sys.argv[7]
    mp.spawn(worker, args=(world, init, batches, steps, warmup, total, out, 29500 + os.getpid() % 1000), nprocs=world, join=True)
