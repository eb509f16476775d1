"""What every `make bench-*` script shares: building, timing commands, the repetition policy and the JSON line.

Repetition policy: this machine's speed drifts by tens of percent over tens of seconds (a shared VM), so every
figure is the best of ROUNDS runs (environment variable, default 3), and a figure that has an anchor (PyTorch,
librosa, ffmpeg) is measured in the same rounds, alternating with it, and compared best to best.
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = max(1, int(os.environ.get("ROUNDS", "3")))


def build(product):
    """Builds one product in release mode (`emotion` with its worker program); returns the path of its executable."""
    for name in [product] + (["emotion-worker"] if product == "emotion" else []):
        subprocess.run(["swift", "build", "-c", "release", "--product", name], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, ".build", "release", product)


def run(command, check=True, **kwargs):
    """Runs a command quietly; returns its standard output as text."""
    result = subprocess.run(command, cwd=kwargs.pop("cwd", ROOT), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **kwargs)
    if check and result.returncode != 0:
        sys.exit(f"benchmark: {' '.join(map(str, command))} exited {result.returncode}")
    return result.stdout


def timed(action):
    """Seconds `action` (a command list or a callable) takes once; for a command, also what it printed."""
    start = time.perf_counter()
    output = run(action) if isinstance(action, list) else action()
    return time.perf_counter() - start, output


def best(actions, rounds=ROUNDS, before=None):
    """Runs each named action once per round, alternating them within each round, and returns
    ({name: best seconds}, {name: [seconds of every round]}). `before`, if given, runs before every timed run
    (cleaning up state the action would otherwise find), untimed."""
    every = {name: [] for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            if before:
                before(name)
            every[name].append(timed(action)[0])
    return {name: min(times) for name, times in every.items()}, every


def importable(module):
    """Whether a Python oracle can be imported here (benchmarks say so when it cannot)."""
    return subprocess.run([sys.executable, "-c", f"import {module}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def say(text):
    print(text, flush=True)


def report(figures):
    """The benchmark's last line: every figure as one JSON object, keys sorted, numbers to 4 significant digits."""
    rounded = {key: float(f"{value:.4g}") if isinstance(value, float) else value for key, value in figures.items()}
    print(json.dumps(rounded, sort_keys=True), flush=True)
