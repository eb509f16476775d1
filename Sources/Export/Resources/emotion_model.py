"""MultimodalEmotion's network (MODEL.md) in PyTorch, for loading an export's model.safetensors.

    import json, emotion_model
    info = json.load(open("model_info.json"))
    model = emotion_model.load("model.safetensors", fusion=info["fusion"])   # eval mode
    logits = model(frames, mel)   # frames (B, Tv, 3, S, S) normalised as model_info.json says; mel (B, 1, 64, Ta)

Parameter names are the project's, which are PyTorch's, so `model.load_state_dict` takes the file as it is.
torchvision is not needed: the ResNet-18 trunk is written out with torchvision's parameter names. TorchScript users
can script or trace this module themselves; the project itself does not link libtorch (see also model.onnx).
"""
import torch
from torch import nn

CLASSES = ["neutral", "joy", "sadness", "anger", "surprise", "fear", "disgust"]


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
    """torchvision's resnet18 without its fc layer."""

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


def feed_forward(p):
    return nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Dropout(p), nn.Linear(512, 256))


class CrossAttention(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.v2a = nn.MultiheadAttention(256, 8, batch_first=True)
        self.a2v = nn.MultiheadAttention(256, 8, batch_first=True)
        self.v_norm1, self.v_ffn, self.v_norm2 = nn.LayerNorm(256), feed_forward(p), nn.LayerNorm(256)
        self.a_norm1, self.a_ffn, self.a_norm2 = nn.LayerNorm(256), feed_forward(p), nn.LayerNorm(256)

    def forward(self, v, a):
        v2 = self.v_norm1(v + self.v2a(v, a, a, need_weights=False)[0])
        v2 = self.v_norm2(v2 + self.v_ffn(v2))
        a2 = self.a_norm1(a + self.a2v(a, v, v, need_weights=False)[0])
        a2 = self.a_norm2(a2 + self.a_ffn(a2))
        return torch.cat([v2.mean(1), a2.mean(1)], 1)


class Transformer(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.modality = nn.Parameter(torch.zeros(2, 256))
        layer = nn.TransformerEncoderLayer(256, 8, 512, p, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)

    def forward(self, v, a):
        tokens = self.encoder(torch.cat([v + self.modality[0], a + self.modality[1]], 1))
        tv = v.shape[1]
        return torch.cat([tokens[:, :tv].mean(1), tokens[:, tv:].mean(1)], 1)


class EmotionModel(nn.Module):
    """fusion: cross_attention, transformer, concat, visual or audio."""

    def __init__(self, fusion="cross_attention", p=0.3):
        super().__init__()
        self.fusion_kind = fusion
        if fusion != "audio":
            self.visual = Visual()
        if fusion != "visual":
            self.audio = Audio()
        if fusion == "cross_attention":
            self.fusion = CrossAttention(p)
        elif fusion == "transformer":
            self.fusion = Transformer(p)
        width = 256 if fusion in ("visual", "audio") else 512
        self.classifier = nn.Sequential(nn.Linear(width, 256), nn.ReLU(), nn.Dropout(p), nn.Linear(256, 128), nn.ReLU(),
                                        nn.Dropout(p), nn.Linear(128, len(CLASSES)))

    def forward(self, frames=None, mel=None):
        v = self.visual(frames) if self.fusion_kind != "audio" else None
        a = self.audio(mel) if self.fusion_kind != "visual" else None
        if self.fusion_kind in ("cross_attention", "transformer"):
            fused = self.fusion(v, a)
        elif self.fusion_kind == "concat":
            fused = torch.cat([v.mean(1), a.mean(1)], 1)
        else:
            fused = (v if a is None else a).mean(1)
        return self.classifier(fused)


def load(path, fusion=None):
    """The model of an export's model.safetensors, in eval mode; the fusion is read from the file when not given."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    if fusion is None:
        with safe_open(path, "pt") as f:
            fusion = (f.metadata() or {}).get("fusion", "cross_attention")
    model = EmotionModel(fusion)
    model.load_state_dict(load_file(path))
    return model.eval()
