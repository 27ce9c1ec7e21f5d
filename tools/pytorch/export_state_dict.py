#!/usr/bin/env python3
"""Write a PyTorch state dict (parameters and buffers) as an SFIX file, keyed by state-dict name.

Usage (Debian's PyTorch: /usr/bin/python3; no other dependency):
    /usr/bin/python3 tools/pytorch/export_state_dict.py MODEL.pth OUT.bin
    /usr/bin/python3 tools/pytorch/export_state_dict.py --torchvision resnet18 --seed 0 OUT.bin
    /usr/bin/python3 tools/pytorch/export_state_dict.py --list MODEL.pth     # names and shapes only

MODEL.pth is anything torch.load gives that holds a state dict: the state dict itself (also the
old, non-zip pickle format), a dict with a 'state_dict' or 'model' entry, or a pickled nn.Module.
With --torchvision NAME the model is torchvision.models.get_model(NAME, weights=None) built after
torch.manual_seed(SEED) (random weights; no download). GoogLeNet and Inception v3 are built with
aux_logits=False, init_weights=True, transform_input=False. Every model is put in eval mode.

Written: every floating-point tensor as float32 (float64 is rounded once, to nearest), in
state-dict order, under its state-dict key (e.g. "layer1.0.conv1.weight", "bn1.running_var").
BatchNorm's `num_batches_tracked` counters (int64, not needed for inference) are skipped and the
number skipped is printed; --keep-counters stores them as float32 scalars (rank 0). Other integer
tensors are stored as float32 with a warning when a value is not exactly representable.

File format (tests/reference/README.md), little-endian: b"SFIX", u32 version 1, u32 tensor count;
per tensor: u32 name length, the name (UTF-8), u32 rank, rank x i64 dims, prod(dims) x f32 values,
row-major. The file is written to OUT.bin.tmp and renamed, so a partial file never has the name.

The module also holds helpers the other tools import (sys.path.insert of this directory):
    write_sfix(path, [(name, tensor_or_array), ...])    streaming SFIX writer
    read_sfix(path) -> {name: float32 numpy array}      reader (for checks)
    torchvision_model(name, seed) -> nn.Module          the random-init construction above
    onnx_summary(path) -> dict                           op-type histogram etc. of an .onnx file,
                                                         parsed from the protobuf wire format
                                                         (no `onnx` package needed)
"""

import argparse
import collections
import os
import struct
import sys
from pathlib import Path

import numpy as np
import torch

MAGIC = b"SFIX"
VERSION = 1
COUNTER_SUFFIX = "num_batches_tracked"


# ---------------------------------------------------------------------------------------------
# SFIX

def _as_float32(name, value):
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        if not t.is_floating_point():
            exact = t.to(torch.float32).to(t.dtype)
            if not torch.equal(exact, t):
                print(f"warning: {name}: integer values not exact in float32", file=sys.stderr)
        arr = t.to(torch.float32).contiguous().numpy()
    else:
        arr = np.asarray(value)
        arr = np.ascontiguousarray(arr.astype(np.float32) if arr.dtype != np.float32 else arr)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: not finite")
    return arr


def write_sfix(path, tensors):
    """tensors: iterable of (name, torch.Tensor or array-like); order is kept."""
    tensors = list(tensors)
    names = [n for n, _ in tensors]
    dupes = [n for n, c in collections.Counter(names).items() if c > 1]
    if dupes:
        raise ValueError(f"{path}: duplicate tensor names {dupes}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<II", VERSION, len(tensors)))
        for name, value in tensors:
            arr = _as_float32(name, value)
            encoded = name.encode("utf-8")
            f.write(struct.pack("<I", len(encoded)) + encoded)
            f.write(struct.pack("<I", arr.ndim) + struct.pack(f"<{arr.ndim}q", *arr.shape))
            f.write(arr.astype("<f4", copy=False).tobytes(order="C"))
    os.replace(tmp, path)
    return path


def read_sfix(path):
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    version, count = struct.unpack_from("<II", data, 4)
    if version != VERSION:
        raise ValueError(f"{path}: version {version}")
    pos, result = 12, {}
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, pos)
        name = data[pos + 4:pos + 4 + length].decode("utf-8")
        pos += 4 + length
        (rank,) = struct.unpack_from("<I", data, pos)
        dims = struct.unpack_from(f"<{rank}q", data, pos + 4)
        pos += 4 + 8 * rank
        n = int(np.prod(dims)) if rank else 1
        result[name] = np.frombuffer(data, dtype="<f4", count=n, offset=pos).reshape(dims)
        pos += 4 * n
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes")
    return result


def state_dict_tensors(state_dict, keep_counters=False):
    """(name, tensor) pairs to store, and the number of num_batches_tracked entries skipped."""
    kept, skipped = [], 0
    for name, value in state_dict.items():
        if name.rsplit(".", 1)[-1] == COUNTER_SUFFIX and not keep_counters:
            skipped += 1
            continue
        kept.append((name, value))
    return kept, skipped


# ---------------------------------------------------------------------------------------------
# Models

def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, torch.nn.Module):
                return inner.state_dict()
            if isinstance(inner, dict) and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
    raise ValueError(f"{path}: no state dict found (got {type(obj).__name__})")


def torchvision_model(name, seed):
    import torchvision
    kwargs = {}
    if name in ("googlenet", "inception_v3"):
        kwargs = dict(aux_logits=False, init_weights=True, transform_input=False)
    torch.manual_seed(seed)
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


# ---------------------------------------------------------------------------------------------
# ONNX, read from the protobuf wire format (onnx.proto field numbers)

def _varint(buf, i):
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf, start, end):
    """Yields (field number, wire type, value); length-delimited values as (start, end)."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = bytes(buf[i:i + 8]), i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = (i, i + n), i + n
        elif wire == 5:
            value, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _str(buf, span):
    return bytes(buf[span[0]:span[1]]).decode("utf-8")


def _attribute(buf, span):
    name, value = None, None
    ints = []
    for f, w, v in _fields(buf, *span):
        if f == 1:
            name = _str(buf, v)
        elif f == 2:
            value = struct.unpack("<f", v)[0]
        elif f == 3:
            value = v - (1 << 64) if v >= 1 << 63 else v
        elif f == 4:
            value = bytes(buf[v[0]:v[1]])
        elif f == 8:
            if w == 2:  # packed
                i = v[0]
                while i < v[1]:
                    x, i = _varint(buf, i)
                    ints.append(x - (1 << 64) if x >= 1 << 63 else x)
            else:
                ints.append(v - (1 << 64) if v >= 1 << 63 else v)
        elif f == 5:
            value = "<tensor>"
    return name, (ints if ints else value)


def onnx_summary(path):
    """{'opset': {domain: version}, 'ops': Counter, 'nodes': [(op, inputs, outputs, attrs)],
    'initializers': [(name, dims)], 'inputs': [...], 'outputs': [...]}"""
    buf = memoryview(Path(path).read_bytes())
    summary = dict(opset={}, ops=collections.Counter(), nodes=[], initializers=[], inputs=[],
                   outputs=[])
    graph = None
    for f, _, v in _fields(buf, 0, len(buf)):
        if f == 7:
            graph = v
        elif f == 8:
            domain, version = "", None
            for g, _, u in _fields(buf, *v):
                if g == 1:
                    domain = _str(buf, u)
                elif g == 2:
                    version = u
            summary["opset"][domain] = version
    if graph is None:
        raise ValueError(f"{path}: no graph")
    for f, _, v in _fields(buf, *graph):
        if f == 1:
            op, ins, outs, attrs = None, [], [], {}
            for g, _, u in _fields(buf, *v):
                if g == 4:
                    op = _str(buf, u)
                elif g == 1:
                    ins.append(_str(buf, u))
                elif g == 2:
                    outs.append(_str(buf, u))
                elif g == 5:
                    k, val = _attribute(buf, u)
                    attrs[k] = val
            summary["ops"][op] += 1
            summary["nodes"].append((op, ins, outs, attrs))
        elif f == 5:
            name, dims = None, []
            for g, w, u in _fields(buf, *v):
                if g == 8:
                    name = _str(buf, u)
                elif g == 1:
                    if w == 2:
                        i = u[0]
                        while i < u[1]:
                            x, i = _varint(buf, i)
                            dims.append(x)
                    else:
                        dims.append(u)
            summary["initializers"].append((name, dims))
        elif f in (11, 12):
            for g, _, u in _fields(buf, *v):
                if g == 1:
                    summary["inputs" if f == 11 else "outputs"].append(_str(buf, u))
                    break
    init_names = {n for n, _ in summary["initializers"]}
    summary["inputs"] = [n for n in summary["inputs"] if n not in init_names]
    return summary


def format_ops(counter):
    return ", ".join(f"{op} {n}" for op, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


# ---------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", nargs="?", help="a .pth file (omit with --torchvision)")
    p.add_argument("out", nargs="?", help="the .bin to write")
    p.add_argument("--torchvision", metavar="NAME", help="a torchvision model with random weights")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed for --torchvision (0)")
    p.add_argument("--keep-counters", action="store_true",
                   help="also store num_batches_tracked (as float32 scalars)")
    p.add_argument("--list", action="store_true", help="print names and shapes, write nothing")
    args = p.parse_args(argv)

    if args.torchvision:
        if args.out is None and not args.list:
            args.source, args.out = None, args.source
        state_dict = torchvision_model(args.torchvision, args.seed).state_dict()
        origin = f"torchvision {args.torchvision} (seed {args.seed})"
    else:
        if args.source is None or (args.out is None and not args.list):
            p.error("need MODEL.pth and OUT.bin (or --torchvision NAME OUT.bin, or --list)")
        state_dict = load_state_dict(args.source)
        origin = args.source

    tensors, skipped = state_dict_tensors(state_dict, args.keep_counters)
    if args.list:
        for name, t in tensors:
            print(f"{name} {list(t.shape)} {str(t.dtype).replace('torch.', '')}")
    else:
        write_sfix(args.out, tensors)
    numel = sum(t.numel() for _, t in tensors)
    print(f"{origin}: {len(state_dict)} state-dict entries, {len(tensors)} tensors "
          f"({numel:,} values) {'listed' if args.list else 'written to ' + args.out}"
          + (f"; skipped {skipped} num_batches_tracked" if skipped else ""))


if __name__ == "__main__":
    main()
