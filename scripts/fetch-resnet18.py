"""Writes torchvision's ImageNet ResNet-18 weights as data/weights/resnet18_imagenet.safetensors (torchvision's names:
conv1.weight, layer1.0.bn1.running_mean, ..., fc.*), the trunk the frozen recipe of pipelines/meld.yaml starts from.

The file comes from torch hub's cache (~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth) when it is there, from
--from FILE, or else from download.pytorch.org; torch hub's own check applies (its SHA-256 starts with f37072fd).
Needs torch and safetensors (pip); part of `make data`, the only steps that use the network."""
import argparse
import hashlib
import os
import sys
import urllib.request

URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
SHA256_PREFIX = "f37072fd"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/weights/resnet18_imagenet.safetensors")
    parser.add_argument("--from", dest="source", help="a resnet18-f37072fd.pth already on disk")
    args = parser.parse_args()
    if os.path.exists(args.out):
        print(f"{args.out} is already there")
        return
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as error:
        sys.exit(f"error: {error.name} is not importable: pip install torch safetensors (torch's CPU build is enough)")
    cached = os.path.join(os.path.expanduser(os.environ.get("TORCH_HOME", "~/.cache/torch")), "hub", "checkpoints", os.path.basename(URL))
    source = args.source or (cached if os.path.exists(cached) else None)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    if source is None:
        source = args.out + ".pth.part"
        print(f"downloading {URL}")
        urllib.request.urlretrieve(URL, source)
    digest = hashlib.sha256(open(source, "rb").read()).hexdigest()
    if not digest.startswith(SHA256_PREFIX):
        sys.exit(f"error: {source} has SHA-256 {digest}, not torchvision's resnet18-{SHA256_PREFIX} (delete it to start over)")
    state = torch.load(source, map_location="cpu", weights_only=True)
    missing = [name for name in ("conv1.weight", "bn1.running_var", "layer4.1.bn2.weight", "fc.weight") if name not in state]
    if missing:
        sys.exit(f"error: {source} is not a ResNet-18 state dictionary (no {', '.join(missing)})")
    partial = args.out + ".part"
    save_file({name: tensor.contiguous() for name, tensor in state.items()}, partial, metadata={"source": URL})
    os.replace(partial, args.out)
    if source.endswith(".pth.part"):
        os.remove(source)
    print(f"wrote {args.out}: {len(state)} tensors; the frozen recipe reads it with init_prefix visual.backbone.")


if __name__ == "__main__":
    main()
