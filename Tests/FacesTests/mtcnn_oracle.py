"""The oracle for the faces stage's MTCNN: facenet-pytorch's three networks written as ONNX graphs (from its own module
definitions: Conv, PReLU, MaxPool with ceil_mode, the dense layers after a (width, height, channel) flatten) and run by
onnxruntime, and its `detect_face` cascade for one image, followed step by step in numpy over those networks.

  mtcnn_oracle.py nets WEIGHTS OUT           random inputs and each network's head outputs, to OUT (safetensors)
  mtcnn_oracle.py detect WEIGHTS RGB H W MIN  the faces in a raw RGB image of H x W: 'x1 y1 x2 y2 score' per line

Prints 'missing NAME' and exits 0 when numpy, onnx, onnxruntime or safetensors is not importable."""
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper, TensorProto
    from safetensors.numpy import load_file, save_file
except ImportError as error:
    print("missing", error.name)
    sys.exit(0)

PNET = [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 2, 2), ("conv", "conv2"), ("prelu", "prelu2"), ("conv", "conv3"),
        ("prelu", "prelu3"), ("heads", ["conv4_1", "conv4_2"])]
RNET = [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3, 2), ("conv", "conv2"), ("prelu", "prelu2"), ("pool", 3, 2),
        ("conv", "conv3"), ("prelu", "prelu3"), ("flatten",), ("dense", "dense4"), ("prelu", "prelu4"),
        ("heads", ["dense5_1", "dense5_2"])]
ONET = [("conv", "conv1"), ("prelu", "prelu1"), ("pool", 3, 2), ("conv", "conv2"), ("prelu", "prelu2"), ("pool", 3, 2),
        ("conv", "conv3"), ("prelu", "prelu3"), ("pool", 2, 2), ("conv", "conv4"), ("prelu", "prelu4"), ("flatten",),
        ("dense", "dense5"), ("prelu", "prelu5"), ("heads", ["dense6_1", "dense6_2", "dense6_3"])]


def session(layers, prefix, weights):
    nodes, initializers, current, spatial = [], [], "x", True

    def constant(name, value):
        initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    for step, layer in enumerate(layers):
        out = f"t{step}"
        kind = layer[0]
        if kind == "conv":
            w, b = weights[f"{prefix}.{layer[1]}.weight"], weights[f"{prefix}.{layer[1]}.bias"]
            nodes.append(helper.make_node("Conv", [current, constant(layer[1] + ".w", w), constant(layer[1] + ".b", b)], [out]))
        elif kind == "prelu":
            slope = weights[f"{prefix}.{layer[1]}.weight"]
            slope = slope.reshape(-1, 1, 1) if spatial else slope
            nodes.append(helper.make_node("PRelu", [current, constant(layer[1], slope)], [out]))
        elif kind == "pool":
            nodes.append(helper.make_node("MaxPool", [current], [out], kernel_shape=[layer[1]] * 2, strides=[layer[2]] * 2, ceil_mode=1))
        elif kind == "flatten":
            nodes.append(helper.make_node("Transpose", [current], [out + "p"], perm=[0, 3, 2, 1]))
            nodes.append(helper.make_node("Flatten", [out + "p"], [out], axis=1))
            spatial = False
        elif kind == "dense":
            w, b = weights[f"{prefix}.{layer[1]}.weight"], weights[f"{prefix}.{layer[1]}.bias"]
            nodes.append(helper.make_node("Gemm", [current, constant(layer[1] + ".w", w), constant(layer[1] + ".b", b)], [out], transB=1))
        elif kind == "heads":
            outputs = []
            for name in layer[1]:
                w, b = weights[f"{prefix}.{name}.weight"], weights[f"{prefix}.{name}.bias"]
                op = helper.make_node("Conv", [current, constant(name + ".w", w), constant(name + ".b", b)], [name]) if spatial else \
                    helper.make_node("Gemm", [current, constant(name + ".w", w), constant(name + ".b", b)], [name], transB=1)
                nodes.append(op)
                shape = ["n", len(b), "h", "w"] if spatial else ["n", len(b)]
                outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
            graph = helper.make_graph(nodes, prefix, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])], outputs,
                                      initializer=initializers)
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
            onnx.checker.check_model(model)
            return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        current = out


def softmax_face(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[:, 1]


def area(image, size):
    """PyTorch's interpolate(mode='area') of an (h, w, 3) float image: an adaptive average pool (window sums from an
    integral image, in float64)."""
    h, w = image.shape[:2]
    rows, cols = size
    integral = np.zeros((h + 1, w + 1, 3))
    integral[1:, 1:] = image.astype(np.float64).cumsum(0).cumsum(1)
    i, j = np.arange(rows), np.arange(cols)
    y0, y1 = (i * h) // rows, -((-(i + 1) * h) // rows)
    x0, x1 = (j * w) // cols, -((-(j + 1) * w) // cols)
    sums = integral[y1][:, x1] - integral[y0][:, x1] - integral[y1][:, x0] + integral[y0][:, x0]
    return (sums / ((y1 - y0)[:, None, None] * (x1 - x0)[None, :, None])).astype(np.float32)


def nms(boxes, scores, threshold, method="Union"):
    extra = 1.0 if method == "Min" else 0.0
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + extra) * (y2 - y1 + extra)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        ok = True
        for k in keep:
            w = max(0.0, min(x2[i], x2[k]) - max(x1[i], x1[k]) + extra)
            h = max(0.0, min(y2[i], y2[k]) - max(y1[i], y1[k]) + extra)
            inter = w * h
            o = inter / min(areas[i], areas[k]) if method == "Min" else inter / (areas[i] + areas[k] - inter)
            if o > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def rerec(b):
    h, w = b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]
    l = np.maximum(w, h)
    b[:, 0] = b[:, 0] + w * 0.5 - l * 0.5
    b[:, 1] = b[:, 1] + h * 0.5 - l * 0.5
    b[:, 2] = b[:, 0] + l
    b[:, 3] = b[:, 1] + l
    return b


def bbreg(b, reg):
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    b[:, 0] += reg[:, 0] * w
    b[:, 1] += reg[:, 1] * h
    b[:, 2] += reg[:, 2] * w
    b[:, 3] += reg[:, 3] * h
    return b


def crops(image, boxes, size):
    h, w = image.shape[:2]
    kept, data = [], []
    for k, b in enumerate(boxes):
        x, y, ex, ey = max(1, int(b[0])), max(1, int(b[1])), min(w, int(b[2])), min(h, int(b[3]))
        if ey > y - 1 and ex > x - 1:
            kept.append(k)
            data.append((area(image[y - 1:ey, x - 1:ex], (size, size)) - 127.5) * 0.0078125)
    return kept, np.stack(data).transpose(0, 3, 1, 2) if data else None


def detect(weights, image, minsize):
    pnet, rnet, onet = (session(layers, name, weights) for layers, name in ((PNET, "pnet"), (RNET, "rnet"), (ONET, "onet")))
    h, w = image.shape[:2]
    m = 12.0 / minsize
    minl = min(h, w) * m
    scales, scale = [], m
    while minl >= 12:
        scales.append(scale)
        scale *= 0.709
        minl *= 0.709
    boxes = []
    for scale in scales:
        data = (area(image, (int(h * scale + 1), int(w * scale + 1))) - 127.5) * 0.0078125
        logits, reg = pnet.run(None, {"x": data.transpose(2, 0, 1)[None]})
        probs = softmax_face(logits)[0]
        ys, xs = np.nonzero(probs >= 0.6)
        found = np.array([[np.floor((2 * x + 1) / scale), np.floor((2 * y + 1) / scale), np.floor((2 * x + 12) / scale),
                           np.floor((2 * y + 12) / scale), probs[y, x], *reg[0, :, y, x]] for y, x in zip(ys, xs)]).reshape(-1, 9)
        boxes.append(found[nms(found[:, :4], found[:, 4], 0.5)])
    boxes = np.concatenate(boxes)
    boxes = boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]
    if len(boxes) == 0:
        return []
    regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    boxes = rerec(np.stack([boxes[:, 0] + boxes[:, 5] * regw, boxes[:, 1] + boxes[:, 6] * regh, boxes[:, 2] + boxes[:, 7] * regw,
                            boxes[:, 3] + boxes[:, 8] * regh, boxes[:, 4]], axis=1))
    kept, data = crops(image, boxes, 24)
    if data is None:
        return []
    logits, reg = rnet.run(None, {"x": data.astype(np.float32)})
    score = softmax_face(logits)
    boxes, passed = boxes[kept], score > 0.7
    boxes, reg = np.concatenate([boxes[passed, :4], score[passed, None]], axis=1), reg[passed]
    pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = rerec(bbreg(boxes[pick], reg[pick]))
    kept, data = crops(image, boxes, 48)
    if data is None:
        return []
    logits, reg, points = onet.run(None, {"x": data.astype(np.float32)})
    score = softmax_face(logits)
    boxes, passed = boxes[kept], score > 0.7
    boxes, reg = np.concatenate([boxes[passed, :4], score[passed, None]], axis=1), reg[passed]
    boxes = bbreg(boxes, reg)
    return boxes[nms(boxes[:, :4], boxes[:, 4], 0.7, "Min")]


def main():
    mode, weights = sys.argv[1], load_file(sys.argv[2])
    if mode == "nets":
        rng, out = np.random.default_rng(7), {}
        for layers, name, shape in ((PNET, "pnet", (1, 3, 37, 53)), (RNET, "rnet", (16, 3, 24, 24)), (ONET, "onet", (16, 3, 48, 48))):
            x = rng.uniform(-1, 1, shape).astype(np.float32)
            out[f"{name}.input"] = x
            for index, value in enumerate(session(layers, name, weights).run(None, {"x": x})):
                out[f"{name}.head{index}"] = np.ascontiguousarray(value.astype(np.float32))
        save_file(out, sys.argv[3])
    else:
        height, width, minsize = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
        image = np.fromfile(sys.argv[3], dtype=np.uint8).reshape(height, width, 3).astype(np.float32)
        for box in detect(weights, image, minsize):
            print(" ".join(f"{v:.4f}" for v in box))


if __name__ == "__main__":
    main()
