"""make bench-mpi: training across machines over Open MPI, measured on this one. Two network namespaces joined by a
veth pair stand for two hosts (each its own address and host name; mpirun reaches the second through a stand-in for ssh,
and Open MPI is told to use that link alone), so the figures are of a real network link, not of shared memory:
- the MPI all-reduce of the model's gradient (cross_attention's floats) between the two hosts, bus bandwidth (NCCL's
  convention: algorithm bandwidth x 2(N-1)/N), beside the shared-memory exchange's between 2 processes on one machine;
- a training step (bench-model's model, batch 8 per worker, Tv 4 x 224, Ta 300, one thread per worker) of 2 machines x 1
  worker against 1 machine x 2 workers: the per-step overhead of crossing machines.
Needs root for the namespaces; without it, the two "hosts" are two Open MPI nodes on this host over loopback (said so).
Every figure is the best of ROUNDS rounds. Last line: JSON."""
import json
import os
import shutil
import subprocess
import tempfile

from benchlib import ROOT, ROUNDS, build, report, run, say

program = build("bench-train")
build("emotion")
worker = os.path.join(ROOT, ".build", "release", "emotion-worker")
steps = os.environ.get("STEPS", "4")
if shutil.which("mpirun") is None:
    raise SystemExit("bench-mpi: mpirun is not installed (make setup installs openmpi-bin)")
os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
os.environ.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")

tag = str(os.getpid() % 100000)
hosts = (f"emo-a{tag}", f"emo-b{tag}")
folder = tempfile.mkdtemp(prefix="bench-mpi-")
agent = os.path.join(folder, "agent.sh")


def ip(*arguments):
    return subprocess.run(["ip", *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True).returncode == 0


link = os.getuid() == 0 and ip("netns", "add", hosts[0])
if link:
    ok = ip("netns", "add", hosts[1]) and ip("link", "add", f"ev{tag}a", "type", "veth", "peer", "name", f"ev{tag}b")
    ok = ok and ip("link", "set", f"ev{tag}a", "netns", hosts[0]) and ip("link", "set", f"ev{tag}b", "netns", hosts[1])
    for host, address, device in ((hosts[0], "10.78.0.1/24", f"ev{tag}a"), (hosts[1], "10.78.0.2/24", f"ev{tag}b")):
        ok = ok and ip("-n", host, "addr", "add", address, "dev", device) and ip("-n", host, "link", "set", device, "up")
        ok = ok and ip("-n", host, "link", "set", "lo", "up")
    if not ok:
        raise SystemExit("bench-mpi: cannot set up the veth link between two network namespaces")
    start = f'exec ip netns exec "$host" unshare --uts sh -c "hostname $host; exec $*"'
    mpirun = (f"ip netns exec {hosts[0]} mpirun --oversubscribe --mca routed direct --mca rtc ^hwloc --mca plm_rsh_agent {agent} --mca oob_tcp_if_include 10.78.0.0/24 "
              f"--mca btl self,vader,tcp --mca btl_tcp_if_include 10.78.0.0/24 --host {hosts[0]}:1,{hosts[1]}:1")
    say(f"two hosts: network namespaces {hosts[0]} (10.78.0.1) and {hosts[1]} (10.78.0.2) joined by a veth pair")
else:
    start = 'exec sh -c "$*"'
    mpirun = f"mpirun --oversubscribe --mca routed direct --mca rtc ^hwloc --mca plm_rsh_agent {agent} --mca btl self,tcp --host nodea:1,nodeb:1"
    say("not root: no network namespaces; the two hosts are two Open MPI nodes on this host, over loopback TCP")
with open(agent, "w") as f:
    f.write(f'#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done\nhost=$1; shift\n{start}\n')
os.chmod(agent, 0o755)


def last_json(output):
    say(output.rstrip())
    return json.loads(output.strip().splitlines()[-1])


try:
    shm, mpi, local_steps, node_steps = [], [], [], []
    for round in range(1, ROUNDS + 1):
        say(f"round {round}:")
        shm.append(last_json(run([program, "exchange", "--ranks", "2", "--iterations", "10"])))
        mpi.append(last_json(run(mpirun.split() + ["-np", "2", program, "mpi-allreduce", "--iterations", "10"])))
        local_steps.append(last_json(run([program, "steps", "--workers", "2", "--steps", steps, "--worker", worker])))
        node_steps.append(last_json(run([program, "steps", "--workers", "2", "--steps", steps, "--worker", worker, "--nodes", "2",
                                         "--mpi-command", mpirun])))
finally:
    if link:
        for host in hosts:
            ip("netns", "delete", host)
    shutil.rmtree(folder, ignore_errors=True)

local_ms = min(r["step_ms"] for r in local_steps)
node_ms = min(r["step_ms"] for r in node_steps)
figures = {
    "rounds": ROUNDS,
    "link": "veth between network namespaces" if link else "loopback TCP between two Open MPI nodes",
    "gradient_floats": mpi[0]["gradient_floats"],
    "mpi_allreduce_ms": min(r["mpi_allreduce_ms"] for r in mpi),
    "mpi_allreduce_bus_gb_per_s": max(r["mpi_allreduce_bus_gb_per_s"] for r in mpi),
    "shm_allreduce_bus_gb_per_s": max(r["allreduce_bus_gb_per_s"] for r in shm),
    "step_ms_1node_2w": local_ms,
    "step_ms_2nodes_1w": node_ms,
    "exchange_ms_1node_2w": min(r["exchange_ms"] for r in local_steps),
    "exchange_ms_2nodes_1w": min(r["exchange_ms"] for r in node_steps),
    "two_node_step_overhead_pct": (node_ms - local_ms) / local_ms * 100,
}
say(f"all-reduce of the gradient ({figures['gradient_floats'] * 4 / 1e6:.0f} MB): MPI over the {figures['link']} "
    f"{figures['mpi_allreduce_bus_gb_per_s']:.2f} GB/s bus bandwidth, shared memory {figures['shm_allreduce_bus_gb_per_s']:.2f} GB/s")
say(f"training step, 2 workers: 1 machine {local_ms:.0f} ms, 2 machines {node_ms:.0f} ms "
    f"({figures['two_node_step_overhead_pct']:+.1f} %; exchange {figures['exchange_ms_1node_2w']:.0f} vs {figures['exchange_ms_2nodes_1w']:.0f} ms)")
report(figures)
