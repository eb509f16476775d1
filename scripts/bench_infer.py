"""make bench-infer: one-clip latency of the engine against onnxruntime running the exported model.onnx, and of the
int8 model in both (model_int8.onnx, the face trunk in QDQ form with activation scales from two random clips; the
engine's int8 trunk on the same scales), on the same weights and shapes (cross_attention, Tv 8 frames of 224x224, Ta
300, MODEL.md's; 2 threads each), best of ROUNDS rounds alternating the runtimes. Targets: onnxruntime int8 over its
float at most 0.65; engine int8 over engine fp32 at most 0.5 where the CPU has VNNI. Without onnxruntime the engine's
figures are printed alone and the benchmark says so. Last line: JSON with engine_ms, engine_int8_ms, onnxruntime_ms,
int8_onnxruntime_ms and the ratios."""
import json
import os
import statistics
import sys
import tempfile
import time

from benchlib import ROUNDS, build, importable, run, say

os.environ.setdefault("OMP_NUM_THREADS", "2")
THREADS = int(os.environ["OMP_NUM_THREADS"])
FRAMES, SIZE, MEL = 8, 224, 300
program = build("bench-model")
folder = tempfile.mkdtemp(prefix="bench-infer-")
common = ["--part", "infer", "--export", folder, "--frames", str(FRAMES), "--size", str(SIZE), "--mel-frames", str(MEL), "--repeats", "5"]
have_ort = importable("onnxruntime")
if not have_ort:
    say("onnxruntime is not importable here (pip install onnxruntime): the engine's latency alone, no same-run anchor.")


def ort_ms(name):
    import numpy as np
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(os.path.join(folder, name), options, providers=["CPUExecutionProvider"])
    feeds = {"frames": np.fromfile(os.path.join(folder, "frames.f32"), np.float32).reshape(1, FRAMES, 3, SIZE, SIZE),
             "mel": np.fromfile(os.path.join(folder, "mel.f32"), np.float32).reshape(1, 1, 64, MEL)}
    session.run(["logits"], feeds)
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        session.run(["logits"], feeds)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


say(f"one clip, cross_attention, Tv {FRAMES} x {SIZE}x{SIZE}, Ta {MEL}, {THREADS} threads, release build")
engine, engine_int8, engine_bf16, ort, int8 = [], [], [], [], []
for number in range(1, ROUNDS + 1):
    out = json.loads(run([program, *common]).strip().splitlines()[-1])
    engine.append(out["engine_ms"])
    engine_int8.append(out["engine_int8_ms"])
    line = f"round {number}: engine {engine[-1]:.1f} ms, engine int8 {engine_int8[-1]:.1f} ms"
    if "engine_bf16_ms" in out:
        engine_bf16.append(out["engine_bf16_ms"])
        line += f", engine bf16 {engine_bf16[-1]:.1f} ms"
    if have_ort:
        ort.append(ort_ms("model.onnx"))
        int8.append(ort_ms("model_int8.onnx"))
        line += f", onnxruntime {ort[-1]:.1f} ms, onnxruntime int8 {int8[-1]:.1f} ms"
    say(line)
vnni = "avx512_vnni" in open("/proc/cpuinfo").read() or "avx_vnni" in open("/proc/cpuinfo").read()
figures = {"rounds": ROUNDS, "engine_ms": round(min(engine), 2), "engine_int8_ms": round(min(engine_int8), 2),
           "engine_int8_over_fp32": round(min(engine_int8) / min(engine), 3), "cpu_has_vnni": vnni}
say(f"engine int8 over fp32: {figures['engine_int8_over_fp32']} (target <= 0.5 {'on this VNNI CPU' if vnni else 'where the CPU has VNNI; this one has not'})")
if engine_bf16:
    figures.update({"engine_bf16_ms": round(min(engine_bf16), 2), "engine_bf16_over_fp32": round(min(engine_bf16) / min(engine), 3)})
    say(f"engine bf16 over fp32: {figures['engine_bf16_over_fp32']}")
else:
    say("engine bf16: not measured, this CPU has neither AVX512_BF16 nor AMX")
if have_ort:
    import onnxruntime
    figures.update({"onnxruntime_ms": round(min(ort), 2), "int8_onnxruntime_ms": round(min(int8), 2), "onnxruntime_version": onnxruntime.__version__,
                    "engine_over_onnxruntime": round(min(engine) / min(ort), 3), "int8_over_float_onnxruntime": round(min(int8) / min(ort), 3),
                    "engine_int8_over_onnxruntime_int8": round(min(engine_int8) / min(int8), 3)})
    sizes = {name: os.path.getsize(os.path.join(folder, name)) for name in ("model.onnx", "model_int8.onnx")}
    say(f"best of {ROUNDS}: engine {figures['engine_ms']} ms, onnxruntime {figures['onnxruntime_ms']} ms (ratio {figures['engine_over_onnxruntime']}, "
        f"target <= 1.0), int8 in onnxruntime {figures['int8_onnxruntime_ms']} ms (over its float: {figures['int8_over_float_onnxruntime']}, "
        f"target <= 0.65); files {sizes['model.onnx'] / 1e6:.1f} MB and "
        f"{sizes['model_int8.onnx'] / 1e6:.1f} MB")
print(json.dumps(figures))
