#!/usr/bin/env python3
"""Export the ONNX fixture that tests/io/test_onnx_reader.cpp reads, and its sidecar of values.

Usage:
    /usr/bin/python3 tests/io/make_onnx_fixtures.py [outdir]   # default: tests/io/fixtures

Debian's torch 1.13 exports ONNX without the `onnx` Python package. Writes, deterministically
(seed 0; regenerate and commit both files together):

  tiny_cnn.onnx  opset 13, input "input" [batch, 3, 16, 16] (batch symbolic), output "logits":
      Conv(3->8, k3, stride 2, pad 1, bias)  BatchNormalization(eps 1e-3)  Clip(0, 6) (ReLU6)
      MaxPool(k2, s2)  Conv(8->8, k3, pad 1, groups 4, bias)  Relu  GlobalAveragePool
      Flatten  Gemm(8->5, transB=1)
    The model is exported in eval() mode with training=TrainingMode.PRESERVE: torch's eval
    peephole (which folds BatchNorm into the Conv before it) runs only for TrainingMode.EVAL, so
    the BatchNormalization node and its running statistics stay in the file. The script checks
    that (the op names are in the bytes) and fails otherwise.
  tiny_branches.onnx  opset 13, input [2, 3, 12, 12]: the structures strata writes as Residual,
      Add<Chain, Chain>, Concat and DepthwiseConv after an asymmetric ZeroPad — a stem, an
      identity-shortcut block, a projection-shortcut block, an Inception-like concat of three
      branches, a depthwise convolution, an average pool and two Gemms with Tanh between;
      tiny_branches.bin holds its input and logits [2, 4] (and no named parameters: the test
      imports through the ONNX file only).
  tiny_cnn.bin   SFIX (tests/reference/README.md): every parameter and BatchNorm statistic under
      its state_dict name (= the ONNX initializer name), plus "input" [2, 3, 16, 16] and the
      eval-mode "logits" [2, 5] PyTorch computes for it (float32).
"""

import io
import struct
import sys
from pathlib import Path

import torch
import torch.nn as nn

MAGIC = b"SFIX"
VERSION = 1


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8, eps=1e-3)
        self.act1 = nn.ReLU6()
        self.pool = nn.MaxPool2d(2, stride=2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=True)
        self.act2 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.pool(self.act1(self.bn1(self.conv1(x))))
        x = self.act2(self.conv2(x))
        return self.fc(self.flatten(self.gap(x)))


class TinyBranches(nn.Module):
    def __init__(self):
        super().__init__()
        cbr = lambda i, o, k, s=1, p=0: [nn.Conv2d(i, o, k, stride=s, padding=p, bias=False), nn.BatchNorm2d(o)]
        self.stem = nn.Sequential(*cbr(3, 8, 3, p=1), nn.ReLU())
        self.block1 = nn.Sequential(*cbr(8, 8, 3, p=1), nn.ReLU(), *cbr(8, 8, 3, p=1))
        self.block2 = nn.Sequential(*cbr(8, 16, 3, s=2, p=1), nn.ReLU(), *cbr(16, 16, 3, p=1))
        self.down2 = nn.Sequential(*cbr(8, 16, 1, s=2))
        self.branch_a = nn.Conv2d(16, 4, 1)
        self.branch_b = nn.Sequential(nn.Conv2d(16, 4, 1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1))
        self.branch_c = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(16, 2, 1))
        self.depthwise = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(12, 12, 3, stride=2, groups=12),
                                       nn.BatchNorm2d(12, eps=1e-3), nn.ReLU6())
        self.pool = nn.AvgPool2d(3)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Dropout(0.25), nn.Linear(16, 4))

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block1(x))
        x = torch.relu(self.block2(x) + self.down2(x))
        x = torch.cat([self.branch_a(x), self.branch_b(x), self.branch_c(x)], 1)
        return self.head(self.pool(self.depthwise(x)))


def randomise_batch_norms(model):
    with torch.no_grad():  # non-trivial BatchNorm parameters and statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)


def export(model, x, dynamic):
    buffer = io.BytesIO()
    torch.onnx.export(model, x, buffer, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    return buffer.getvalue()


def write_sfix(path, tensors):
    out = bytearray(MAGIC + struct.pack("<II", VERSION, len(tensors)))
    for name, t in tensors:
        t = t.detach().to(torch.float32).contiguous()
        encoded = name.encode("utf-8")
        out += struct.pack("<I", len(encoded)) + encoded + struct.pack("<I", t.dim())
        out += struct.pack("<%dq" % t.dim(), *t.shape)
        out += struct.pack("<%df" % t.numel(), *t.flatten().tolist())
    path.write_bytes(bytes(out))


def main():
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "fixtures"
    outdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = TinyCNN()
    with torch.no_grad():  # non-trivial BatchNorm parameters and statistics
        model.bn1.weight.uniform_(0.5, 1.5)
        model.bn1.bias.uniform_(-0.5, 0.5)
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        logits = model(x)

    buffer = io.BytesIO()
    torch.onnx.export(model, x, buffer, opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    onnx_bytes = buffer.getvalue()
    for op in (b"Conv", b"BatchNormalization", b"Clip", b"MaxPool", b"Relu", b"GlobalAveragePool", b"Flatten",
               b"Gemm"):
        if op not in onnx_bytes:
            raise SystemExit("the export has no %s node (was BatchNorm folded into the Conv?)" % op.decode())

    tensors = []
    for name, t in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue  # not exported
        if name.encode() not in onnx_bytes:
            raise SystemExit("initializer %s is not in the export" % name)
        tensors.append((name, t))
    tensors += [("input", x), ("logits", logits)]
    (outdir / "tiny_cnn.onnx").write_bytes(onnx_bytes)
    write_sfix(outdir / "tiny_cnn.bin", tensors)
    print("wrote %s (%d bytes) and tiny_cnn.bin (%d tensors)" % (outdir / "tiny_cnn.onnx", len(onnx_bytes),
                                                                 len(tensors)))

    torch.manual_seed(1)
    branches = TinyBranches()
    randomise_batch_norms(branches)
    branches.eval()
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        logits = branches(x)
    onnx_bytes = export(branches, x, dynamic=False)
    for op in (b"Add", b"Concat", b"Pad", b"Tanh", b"AveragePool"):
        if op not in onnx_bytes:
            raise SystemExit("the branches export has no %s node" % op.decode())
    (outdir / "tiny_branches.onnx").write_bytes(onnx_bytes)
    write_sfix(outdir / "tiny_branches.bin", [("input", x), ("logits", logits)])
    print("wrote tiny_branches.onnx (%d bytes) and tiny_branches.bin" % len(onnx_bytes))


if __name__ == "__main__":
    main()
