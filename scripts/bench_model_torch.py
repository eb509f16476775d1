"""The anchor of `make bench-model`: the same EmotionModel (MODEL.md) in PyTorch, CPU, 2 threads, same shapes.

torchvision is not needed: the ResNet-18 trunk is written out with torchvision's parameter names.
Prints one JSON object on its last line. `EmotionModel` is imported by bench_train_torch.py.
"""
import json
import resource
import statistics
import sys
import time

import torch
from torch import nn



class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, w in enumerate([64, 128, 256, 512]):
            s = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, s), BasicBlock(w, w, 1)))
            cin = w
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class Visual(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Trunk()
        self.proj = nn.Linear(512, 256)

    def forward(self, frames):
        b, t = frames.shape[:2]
        return torch.relu(self.proj(self.backbone(frames.flatten(0, 1)))).view(b, t, 256)


class Audio(nn.Module):
    def __init__(self):
        super().__init__()
        layers = []
        for cin, cout in [(1, 32), (32, 64), (64, 128)]:
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
        self.conv = nn.Sequential(*layers)
        self.gru = nn.GRU(1024, 128, num_layers=2, bidirectional=True, batch_first=True)

    def forward(self, mel):
        h = self.conv(mel)
        h = h.permute(0, 3, 1, 2).flatten(2)
        return self.gru(h)[0]


class CrossAttention(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.v2a = nn.MultiheadAttention(256, 8, batch_first=True)
        self.a2v = nn.MultiheadAttention(256, 8, batch_first=True)
        ffn = lambda: nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Dropout(p), nn.Linear(512, 256))
        self.v_norm1, self.v_ffn, self.v_norm2 = nn.LayerNorm(256), ffn(), nn.LayerNorm(256)
        self.a_norm1, self.a_ffn, self.a_norm2 = nn.LayerNorm(256), ffn(), nn.LayerNorm(256)

    def forward(self, v, a):
        v2 = self.v_norm1(v + self.v2a(v, a, a, need_weights=False)[0])
        v2 = self.v_norm2(v2 + self.v_ffn(v2))
        a2 = self.a_norm1(a + self.a2v(a, v, v, need_weights=False)[0])
        a2 = self.a_norm2(a2 + self.a_ffn(a2))
        return torch.cat([v2.mean(1), a2.mean(1)], 1)


class EmotionModel(nn.Module):
    def __init__(self, p=0.3):
        super().__init__()
        self.visual, self.audio, self.fusion = Visual(), Audio(), CrossAttention(p)
        self.classifier = nn.Sequential(nn.Linear(512, 256), nn.ReLU(), nn.Dropout(p), nn.Linear(256, 128), nn.ReLU(),
                                        nn.Dropout(p), nn.Linear(128, 7))

    def forward(self, frames, mel):
        return self.classifier(self.fusion(self.visual(frames), self.audio(mel)))


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

    model.train()
    train = median_time(step)
    model.eval()
    one_frames, one_mel = frames[:1], mel[:1]
    with torch.no_grad():
        infer = median_time(lambda: model(one_frames, one_mel))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"PyTorch {torch.__version__}: train step {train * 1000:.0f} ms ({B / train:.2f} samples/s), "
          f"one-clip inference {infer * 1000:.1f} ms, peak RSS {rss:.0f} MB")
    print(json.dumps({"torch_train_step_ms": round(train * 1000), "torch_infer_one_clip_ms": infer * 1000,
                      "torch_peak_rss_mb": round(rss), "torch_version": torch.__version__}))


if __name__ == "__main__":
    main()
