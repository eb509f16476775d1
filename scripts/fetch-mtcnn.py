"""Writes MTCNN's weights (P-Net, R-Net and O-Net, as facenet-pytorch ships them) as one safetensors file, the faces
stage's CNN detector (`detector: hog+cnn` or `cnn`).

The weights come from the PyPI wheel facenet-pytorch==2.6.0 (pip download of that version alone, its SHA-256 checked,
then each .pt file's), never from a URL of their own. The .pt files are PyTorch's legacy serialization (a pickle of the
state dictionary whose tensors point into raw storages that follow it); they are read here with the standard library's
pickle, without torch, and written C-contiguous with names `pnet.conv1.weight`, ..., `onet.dense6_3.bias`.
Run by `make setup` (scripts/setup.sh); does nothing when the file is there with its digest."""
import argparse
import array
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "facenet-pytorch==2.6.0"
WHEEL = "facenet_pytorch-2.6.0-py3-none-any.whl"
WHEEL_SHA256 = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
NETS = {
    "pnet": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    "rnet": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    "onet": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
}
DEFAULT_OUT = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "multimodal-emotion", "mtcnn-facenet-pytorch-2.6.0.safetensors")


class LegacyStateDict(pickle.Unpickler):
    """The subset of PyTorch's legacy format a state dictionary of float tensors uses: tensors come back as
    (storage key, offset, size, stride)."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *rest: (storage, offset, tuple(size), tuple(stride))
        if module == "torch" and name == "FloatStorage":
            return name
        raise pickle.UnpicklingError(f"unexpected {module}.{name} in a state dictionary")

    def persistent_load(self, pid):
        kind, storage_type, key, location, size = pid[:5]
        if kind != "storage" or storage_type != "FloatStorage":
            raise pickle.UnpicklingError(f"unexpected storage {pid!r}")
        return key


def read_state(data):
    """name -> (shape, floats in C order) from a legacy .pt file's bytes."""
    stream = io.BytesIO(data)
    magic, protocol, _ = (pickle.load(stream) for _ in range(3))
    if magic != 0x1950A86A20F9469CFC6C or protocol != 1001:
        raise ValueError("not PyTorch's legacy serialization")
    state = LegacyStateDict(stream).load()
    keys = pickle.load(stream)
    storages = {}
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        values = array.array("f")
        values.frombytes(stream.read(4 * count))
        if sys.byteorder != "little":
            values.byteswap()
        storages[key] = values
    tensors = {}
    for name, (key, offset, shape, stride) in state.items():
        storage, flat = storages[key], array.array("f")
        # Gather in C order through the tensor's strides (these files hold column-major tensors).
        def gather(dimension, position):
            if dimension == len(shape):
                flat.append(storage[position])
                return
            for index in range(shape[dimension]):
                gather(dimension + 1, position + index * stride[dimension])
        gather(0, offset)
        tensors[name] = (shape, flat)
    return tensors


def write_safetensors(tensors, path, metadata):
    header, offset = {"__metadata__": metadata}, 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + 4 * len(values)]}
        offset += 4 * len(values)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    partial = path + ".part"
    with open(partial, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)) + encoded)
        for name in sorted(tensors):
            values = tensors[name][1]
            if sys.byteorder != "little":
                values = array.array("f", values)
                values.byteswap()
            out.write(values.tobytes())
    os.replace(partial, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--wheel", help=f"{WHEEL} already on disk (else pip downloads it)")
    args = parser.parse_args()
    if os.path.exists(args.out):
        print(f"setup: MTCNN weights present ({args.out})")
        return
    with tempfile.TemporaryDirectory() as scratch:
        wheel = args.wheel
        if wheel is None:
            command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check", "-d", scratch, PACKAGE]
            if subprocess.run(command).returncode != 0:
                sys.exit(f"setup: could not download {PACKAGE} from the package registry; the faces stage's CNN detector "
                         "(detector: hog+cnn or cnn) needs it: run make setup where the registry is reachable")
            wheel = os.path.join(scratch, WHEEL)
        data = open(wheel, "rb").read()
        digest = hashlib.sha256(data).hexdigest()
        if digest != WHEEL_SHA256:
            sys.exit(f"setup: {wheel} has SHA-256 {digest}, not {PACKAGE}'s {WHEEL_SHA256}")
        tensors = {}
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for net, expected in NETS.items():
                member = archive.read(f"facenet_pytorch/data/{net}.pt")
                if hashlib.sha256(member).hexdigest() != expected:
                    sys.exit(f"setup: {net}.pt in {WHEEL} is not the file this script was written for")
                tensors.update({f"{net}.{name}": value for name, value in read_state(member).items()})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    write_safetensors(tensors, args.out, {"source": f"{PACKAGE} (PyPI), facenet_pytorch/data/{{pnet,rnet,onet}}.pt", "wheel_sha256": WHEEL_SHA256})
    print(f"setup: wrote MTCNN's weights ({len(tensors)} tensors) to {args.out}")


if __name__ == "__main__":
    main()
