#!/usr/bin/env python3
"""Generate strata's PyTorch reference fixtures (forward and backward of every layer).

Usage:
    /usr/bin/python3 tests/reference/make_reference.py [outdir]           # write the fixtures
    /usr/bin/python3 tests/reference/make_reference.py --verify [outdir]  # re-check them (numpy only)
    /usr/bin/python3 tests/reference/make_reference.py --only inception [outdir]  # write some cases only

outdir defaults to tests/reference/fixtures next to this script. Every case is seeded on its
own (torch.manual_seed), so regenerating gives the same bytes and adding a case changes no
other file. All random data (inputs, parameters, grad_output) is drawn, rounded to float32,
and only then widened to float64: the stored float32 tensors are exactly what the reference
was computed from, and forward and backward run in float64, so the stored results are the
fp64 answer for the stored inputs, rounded once.

File format (little-endian): b"SFIX", u32 version (1), u32 tensor count; per tensor:
u32 name length, the name (UTF-8), u32 rank, rank x i64 dims, prod(dims) x f32 values in
row-major order. Integer labels are stored as float32 (exact). Scalars (losses) have shape [1].

Cases (N = batch). Layer tensors: input, <parameters>, output, grad_output, grad_input,
grad_<parameter>; BatchNorm adds running_mean_in/running_var_in (before the step) and, in
training mode, running_mean_out/running_var_out (after it).
  conv_3x3_pad1            x[2,3,7,6]  F=4 k(3,3) pad(1,1) stride(1,1) bias
  conv_5x5_pad2            x[2,2,9,9]  F=3 k(5,5) pad(2,2) stride(1,1) bias
  conv_1x3                 x[2,3,5,6]  F=2 k(1,3) pad(0,1) stride(1,1) bias
  conv_3x1                 x[2,3,6,5]  F=2 k(3,1) pad(1,0) stride(1,1) bias
  conv_1x1_stride2_nobias  x[2,4,7,7]  F=6 k(1,1) pad(0,0) stride(2,2) no bias
  conv_3x3_stride2_pad1    x[2,3,8,9]  F=5 k(3,3) pad(1,1) stride(2,2) bias
  depthwise_3x3_stride2_pad1  x[2,6,9,8]  F=6 k(3,3) pad(1,1) stride(2,2) groups 6, bias
  depthwise_5x5_pad2_nobias   x[2,4,7,9]  F=4 k(5,5) pad(2,2) stride(1,1) groups 4, no bias
  grouped_conv_3x3_g4      x[2,8,7,6]  F=16 k(3,3) pad(1,1) stride(1,1) groups 4, bias
  dense                    x[3,2,3,2] (flattened to 12), weight[4,12], bias[4]
  maxpool_2                x[2,3,6,8]  MaxPool2d(2, 2, 0)
  maxpool_3_s2_p1          x[2,2,7,7]  MaxPool2d(3, 2, 1)
  avgpool_2                x[2,3,6,8]  AvgPool2d(2, 2, 0)
  avgpool_3_s2_p1          x[2,2,7,7]  AvgPool2d(3, 2, 1), count_include_pad=True
  global_avgpool           x[2,3,5,4]  -> [2,3]
  batchnorm2d_train        x[4,3,5,5]  training step, eps 1e-5, momentum 0.1
  batchnorm2d_eval         x[4,3,5,5]  eval mode (running statistics)
  batchnorm1d_train        x[6,5]      training step
  relu, leaky_relu (0.01), tanh, sigmoid   x[3,4,5] standard normal
  softmax_cross_entropy    logits[5,7], labels[5], loss[1], grad_logits[5,7] (mean; some +-40)
  mse                      predictions[4,3], targets[4,3], loss[1], grad_predictions[4,3]
  residual_net             see residual_net() below; strata's parameter path names.
  inception                see inception_case() below: MaxPool2d(3, 2, ceil_mode=True) then
                           torchvision's Inception(16, 4, 6, 8, 2, 4, 4) on x[2,16,16,16];
                           strata's parameter path names.
"""

import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"SFIX"
VERSION = 1
EPS = 1e-5
MOMENTUM = 0.1


# ---------------------------------------------------------------------------------------------
# File I/O

def write_fixture(path, tensors):
    """tensors: list of (name, array-like); order is kept."""
    names = [n for n, _ in tensors]
    assert len(names) == len(set(names)), f"duplicate tensor names in {path}"
    out = bytearray()
    out += MAGIC
    out += struct.pack("<II", VERSION, len(tensors))
    for name, value in tensors:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        arr = np.ascontiguousarray(np.asarray(value, dtype=np.float64).astype("<f4"))
        assert np.all(np.isfinite(arr)), f"{path}: {name} is not finite"
        encoded = name.encode("utf-8")
        out += struct.pack("<I", len(encoded)) + encoded
        out += struct.pack("<I", arr.ndim)
        out += struct.pack(f"<{arr.ndim}q", *arr.shape)
        out += arr.tobytes(order="C")
    Path(path).write_bytes(bytes(out))


def read_fixture(path):
    data = Path(path).read_bytes()
    assert data[:4] == MAGIC, f"{path}: bad magic"
    version, count = struct.unpack_from("<II", data, 4)
    assert version == VERSION
    pos = 12
    result = {}
    for _ in range(count):
        (length,) = struct.unpack_from("<I", data, pos)
        pos += 4
        name = data[pos:pos + length].decode("utf-8")
        pos += length
        (rank,) = struct.unpack_from("<I", data, pos)
        pos += 4
        dims = struct.unpack_from(f"<{rank}q", data, pos)
        pos += 8 * rank
        n = int(np.prod(dims)) if rank else 1
        values = np.frombuffer(data, dtype="<f4", count=n, offset=pos).reshape(dims)
        pos += 4 * n
        result[name] = values.astype(np.float64)
    assert pos == len(data), f"{path}: {len(data) - pos} trailing bytes"
    return result


# ---------------------------------------------------------------------------------------------
# Random data: drawn in float64, rounded to float32, widened back (exactly representable).

def f32(t):
    return t.to(torch.float32).to(torch.float64)


def normal(*shape, scale=1.0):
    return f32(torch.randn(*shape, dtype=torch.float64) * scale)


def uniform(*shape, lo=-0.5, hi=0.5):
    return f32(torch.rand(*shape, dtype=torch.float64) * (hi - lo) + lo)


def leaf(t):
    return t.clone().requires_grad_(True)


# ---------------------------------------------------------------------------------------------
# Cases. Each returns the list of (name, tensor) to store.

def conv_case(n, c, h, w, f, kernel, pad, stride, bias, groups=1):
    x = leaf(normal(n, c, h, w))
    weight = leaf(uniform(f, c // groups, *kernel))
    b = leaf(uniform(f)) if bias else None
    out = F.conv2d(x, weight, b, stride=stride, padding=pad, groups=groups)
    expect_h = (h + 2 * pad[0] - kernel[0]) // stride[0] + 1
    expect_w = (w + 2 * pad[1] - kernel[1]) // stride[1] + 1
    assert out.shape == (n, f, expect_h, expect_w)
    grad_output = normal(*out.shape)
    out.backward(grad_output)
    tensors = [("input", x), ("weight", weight)]
    if bias:
        tensors.append(("bias", b))
    tensors += [("output", out), ("grad_output", grad_output), ("grad_input", x.grad),
                ("grad_weight", weight.grad)]
    if bias:
        tensors.append(("grad_bias", b.grad))
    return tensors


def dense_case():
    x = leaf(normal(3, 2, 3, 2))
    weight = leaf(uniform(4, 12))
    bias = leaf(uniform(4))
    out = F.linear(x.reshape(3, -1), weight, bias)
    grad_output = normal(*out.shape)
    out.backward(grad_output)
    return [("input", x), ("weight", weight), ("bias", bias), ("output", out),
            ("grad_output", grad_output), ("grad_input", x.grad), ("grad_weight", weight.grad),
            ("grad_bias", bias.grad)]


def unary_case(shape, fn):
    x = leaf(normal(*shape))
    out = fn(x)
    grad_output = normal(*out.shape)
    out.backward(grad_output)
    return [("input", x), ("output", out), ("grad_output", grad_output), ("grad_input", x.grad)]


def batchnorm_case(shape, training):
    channels = shape[1]
    x = leaf(normal(*shape, scale=1.5) + 0.7)  # not already normalised
    gamma = leaf(uniform(channels, lo=0.5, hi=1.5))
    beta = leaf(uniform(channels))
    running_mean_in = uniform(channels)
    running_var_in = uniform(channels, lo=0.5, hi=2.0)
    running_mean = running_mean_in.clone()
    running_var = running_var_in.clone()
    out = F.batch_norm(x, running_mean, running_var, gamma, beta, training=training,
                       momentum=MOMENTUM, eps=EPS)
    grad_output = normal(*out.shape)
    out.backward(grad_output)
    tensors = [("input", x), ("gamma", gamma), ("beta", beta),
               ("running_mean_in", running_mean_in), ("running_var_in", running_var_in),
               ("output", out), ("grad_output", grad_output), ("grad_input", x.grad),
               ("grad_gamma", gamma.grad), ("grad_beta", beta.grad)]
    if training:
        tensors += [("running_mean_out", running_mean), ("running_var_out", running_var)]
    else:
        assert torch.equal(running_mean, running_mean_in) and torch.equal(running_var, running_var_in)
    return tensors


def softmax_cross_entropy_case():
    logits = normal(5, 7, scale=2.0)
    labels = torch.tensor([3, 0, 6, 2, 5])
    logits[0, 3] = 40.0   # the right class far ahead: loss ~ 0, stable softmax needed
    logits[1, 4] = 40.0   # a wrong class far ahead: loss ~ 40
    logits[2, 6] = -40.0  # the right class far behind
    logits[3, 1] = -40.0  # a wrong class far behind
    logits = leaf(logits)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return [("logits", logits), ("labels", labels.to(torch.float64)), ("loss", loss.reshape(1)),
            ("grad_logits", logits.grad)]


def mse_case():
    predictions = leaf(normal(4, 3))
    targets = normal(4, 3)
    loss = F.mse_loss(predictions, targets)
    loss.backward()
    return [("predictions", predictions), ("targets", targets), ("loss", loss.reshape(1)),
            ("grad_predictions", predictions.grad)]


class _Params:
    """Parameters and BatchNorm state of the residual network, under strata's path names."""

    def __init__(self):
        self.params = {}  # path -> leaf tensor, in creation order
        self.bn_state = {}  # bn path -> (running_mean, running_var)

    def conv(self, path, f, c, k, bias):
        self.params[f"{path}weight"] = leaf(uniform(f, c, k, k))
        if bias:
            self.params[f"{path}bias"] = leaf(uniform(f))

    def bn(self, path, c):
        self.params[f"{path}gamma"] = leaf(uniform(c, lo=0.5, hi=1.5))
        self.params[f"{path}beta"] = leaf(uniform(c))
        self.bn_state[path] = (torch.zeros(c, dtype=torch.float64), torch.ones(c, dtype=torch.float64))

    def dense(self, path, n, k):
        self.params[f"{path}weight"] = leaf(uniform(n, k))
        self.params[f"{path}bias"] = leaf(uniform(n))

    # forward helpers
    def run_conv(self, path, x, stride, pad):
        return F.conv2d(x, self.params[f"{path}weight"], self.params.get(f"{path}bias"),
                        stride=stride, padding=pad)

    def run_bn(self, path, x):
        mean, var = self.bn_state[path]
        return F.batch_norm(x, mean, var, self.params[f"{path}gamma"], self.params[f"{path}beta"],
                            training=True, momentum=MOMENTUM, eps=EPS)


def residual_net_case():
    """0 conv3x3 4->8 pad1 (bias) . 1 BN . 2 ReLU
       3 Residual[0 conv3x3 8->8 pad1 . 1 BN . 2 ReLU . 3 conv3x3 8->8 pad1 . 4 BN]  (identity)
       4 ReLU
       5 Residual[0 conv3x3 8->16 s2 pad1 . 1 BN . 2 ReLU . 3 conv3x3 16->16 pad1 . 4 BN]
         (projection 1x1 8->16 stride 2 no bias + BN)
       6 ReLU . 7 GlobalAvgPool . 8 Dense 16->5 . mean softmax cross-entropy.
       All BNs in training mode, running stats starting at 0 / 1."""
    p = _Params()
    p.conv("0.", 8, 4, 3, bias=True)
    p.bn("1.", 8)
    p.conv("3.block.0.", 8, 8, 3, bias=False)
    p.bn("3.block.1.", 8)
    p.conv("3.block.3.", 8, 8, 3, bias=False)
    p.bn("3.block.4.", 8)
    p.conv("5.block.0.", 16, 8, 3, bias=False)
    p.bn("5.block.1.", 16)
    p.conv("5.block.3.", 16, 16, 3, bias=False)
    p.bn("5.block.4.", 16)
    p.conv("5.projection.", 16, 8, 1, bias=False)
    p.bn("5.projection_bn.", 16)
    p.dense("8.", 5, 16)

    x = leaf(normal(4, 4, 8, 8))
    labels = torch.tensor([0, 3, 4, 1])

    h = torch.relu(p.run_bn("1.", p.run_conv("0.", x, 1, 1)))                        # 0, 1, 2
    b = torch.relu(p.run_bn("3.block.1.", p.run_conv("3.block.0.", h, 1, 1)))
    b = p.run_bn("3.block.4.", p.run_conv("3.block.3.", b, 1, 1))
    h = torch.relu(b + h)                                                              # 3, 4
    b = torch.relu(p.run_bn("5.block.1.", p.run_conv("5.block.0.", h, 2, 1)))
    b = p.run_bn("5.block.4.", p.run_conv("5.block.3.", b, 1, 1))
    shortcut = p.run_bn("5.projection_bn.", p.run_conv("5.projection.", h, 2, 0))
    h = torch.relu(b + shortcut)                                                       # 5, 6
    pooled = F.adaptive_avg_pool2d(h, 1).flatten(1)                                   # 7
    logits = F.linear(pooled, p.params["8.weight"], p.params["8.bias"])                # 8
    logits.retain_grad()
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    tensors = [("input", x), ("labels", labels.to(torch.float64))]
    tensors += list(p.params.items())
    tensors += [("logits", logits), ("loss", loss.reshape(1)), ("grad_logits", logits.grad),
                ("grad_input", x.grad)]
    tensors += [(f"grad_{name}", t.grad) for name, t in p.params.items()]
    for path, (mean, var) in p.bn_state.items():
        tensors += [(f"{path}running_mean_out", mean), (f"{path}running_var_out", var)]
    return tensors


# The Inception module's parameters under strata's names, for the network
# Chain<MaxPool<3, 2, 0, CeilMode>, zoo::Inception<4, 6, 8, 2, 4, 4>>: part 1 is the Concat;
# its branch b holds BasicConv2d chains (conv, bn, relu) — branch 0 is one, branches 1 and 2 two
# in a row, branch 3 a max pool then one.
INCEPTION_BRANCHES = {"branch1": "1.0.", "branch2": "1.1.", "branch3": "1.2.", "branch4": "1.3."}
INCEPTION_EPS = 1e-3


def inception_name(torch_name):
    """branch2.1.conv.weight -> 1.1.1.0.weight; branch1.bn.bias -> 1.0.1.beta."""
    parts = torch_name.split(".")
    path = INCEPTION_BRANCHES[parts[0]]
    rest = parts[1:]
    if rest[0].isdigit():
        path += rest[0] + "."
        rest = rest[1:]
    layer, role = rest
    if layer == "conv":
        return path + "0." + role
    return path + "1." + {"weight": "gamma", "bias": "beta"}[role]


def inception_case():
    """MaxPool2d(3, stride=2, ceil_mode=True): x[2,16,16,16] -> [2,16,8,8] (floor would give 7),
       then torchvision.models.googlenet.Inception(16, ch1x1=4, ch3x3red=6, ch3x3=8, ch5x5red=2,
       ch5x5=4, pool_proj=4) -> [2,20,8,8]: BasicConv2d = conv (no bias) + BatchNorm(eps 1e-3,
       training mode, running stats starting at 0 / 1) + ReLU; the third branch is 3x3 as in
       torchvision; the fourth starts with MaxPool2d(3, 1, 1, ceil_mode=True). Tensors: input,
       parameters and "<bn path>running_mean_in"/"_var_in" under strata's names, output,
       grad_output, grad_input, grad_<parameter>, "<bn path>running_mean_out"/"_var_out"."""
    from torchvision.models.googlenet import Inception
    module = Inception(16, 4, 6, 8, 2, 4, 4).to(torch.float64)
    module.train()
    params = {}
    with torch.no_grad():
        for name, p in module.named_parameters():
            if ".conv." in name:
                p.copy_(uniform(*p.shape))
            elif name.endswith("bn.weight"):
                p.copy_(uniform(*p.shape, lo=0.5, hi=1.5))
            else:
                p.copy_(uniform(*p.shape))
            params[inception_name(name)] = p
    x = leaf(normal(2, 16, 16, 16))
    pooled = F.max_pool2d(x, 3, 2, 0, ceil_mode=True)
    assert pooled.shape == (2, 16, 8, 8)
    out = module(pooled)
    assert out.shape == (2, 20, 8, 8)
    grad_output = normal(*out.shape)
    out.backward(grad_output)
    tensors = [("input", x)] + list(params.items())
    bns = [(n, m) for n, m in module.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for n, _ in bns:
        path = inception_name(n + ".weight")[: -len("gamma")]
        c = dict(bns)[n].num_features
        tensors += [(f"{path}running_mean_in", torch.zeros(c)), (f"{path}running_var_in", torch.ones(c))]
    tensors += [("output", out), ("grad_output", grad_output), ("grad_input", x.grad)]
    tensors += [(f"grad_{name}", p.grad) for name, p in params.items()]
    for n, m in bns:
        assert m.eps == INCEPTION_EPS
        path = inception_name(n + ".weight")[: -len("gamma")]
        tensors += [(f"{path}running_mean_out", m.running_mean), (f"{path}running_var_out", m.running_var)]
    return tensors


CASES = {
    "conv_3x3_pad1": lambda: conv_case(2, 3, 7, 6, 4, (3, 3), (1, 1), (1, 1), True),
    "conv_5x5_pad2": lambda: conv_case(2, 2, 9, 9, 3, (5, 5), (2, 2), (1, 1), True),
    "conv_1x3": lambda: conv_case(2, 3, 5, 6, 2, (1, 3), (0, 1), (1, 1), True),
    "conv_3x1": lambda: conv_case(2, 3, 6, 5, 2, (3, 1), (1, 0), (1, 1), True),
    "conv_1x1_stride2_nobias": lambda: conv_case(2, 4, 7, 7, 6, (1, 1), (0, 0), (2, 2), False),
    "conv_3x3_stride2_pad1": lambda: conv_case(2, 3, 8, 9, 5, (3, 3), (1, 1), (2, 2), True),
    "depthwise_3x3_stride2_pad1": lambda: conv_case(2, 6, 9, 8, 6, (3, 3), (1, 1), (2, 2), True, groups=6),
    "depthwise_5x5_pad2_nobias": lambda: conv_case(2, 4, 7, 9, 4, (5, 5), (2, 2), (1, 1), False, groups=4),
    "grouped_conv_3x3_g4": lambda: conv_case(2, 8, 7, 6, 16, (3, 3), (1, 1), (1, 1), True, groups=4),
    "dense": dense_case,
    "maxpool_2": lambda: unary_case((2, 3, 6, 8), lambda x: F.max_pool2d(x, 2, 2, 0)),
    "maxpool_3_s2_p1": lambda: unary_case((2, 2, 7, 7), lambda x: F.max_pool2d(x, 3, 2, 1)),
    "avgpool_2": lambda: unary_case((2, 3, 6, 8), lambda x: F.avg_pool2d(x, 2, 2, 0)),
    "avgpool_3_s2_p1": lambda: unary_case(
        (2, 2, 7, 7), lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)),
    "global_avgpool": lambda: unary_case((2, 3, 5, 4), lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1)),
    "batchnorm2d_train": lambda: batchnorm_case((4, 3, 5, 5), training=True),
    "batchnorm2d_eval": lambda: batchnorm_case((4, 3, 5, 5), training=False),
    "batchnorm1d_train": lambda: batchnorm_case((6, 5), training=True),
    "relu": lambda: unary_case((3, 4, 5), torch.relu),
    "leaky_relu": lambda: unary_case((3, 4, 5), lambda x: F.leaky_relu(x, 0.01)),
    "tanh": lambda: unary_case((3, 4, 5), torch.tanh),
    "sigmoid": lambda: unary_case((3, 4, 5), torch.sigmoid),
    "softmax_cross_entropy": softmax_cross_entropy_case,
    "mse": mse_case,
    "residual_net": residual_net_case,
    "inception": inception_case,
}


def case_seed(name):
    # A stable per-case seed (not Python's randomised hash()).
    return int.from_bytes(name.encode("utf-8")[:8].ljust(8, b"\0"), "little") % (2**31) + len(name)


def generate(outdir, only=None):
    outdir.mkdir(parents=True, exist_ok=True)
    torch.set_default_dtype(torch.float64)
    total = 0
    unknown = set(only or []) - set(CASES)
    assert not unknown, f"no such case: {sorted(unknown)} (cases: {', '.join(CASES)})"
    selected = [(name, make) for name, make in CASES.items() if only is None or name in only]
    for name, make in selected:
        torch.manual_seed(case_seed(name))
        path = outdir / f"{name}.bin"
        write_fixture(path, make())
        size = path.stat().st_size
        total += size
        print(f"{path.name:32s} {size:7d} bytes")
    print(f"total {total} bytes in {len(selected)} files")


# ---------------------------------------------------------------------------------------------
# Independent re-check in numpy (explicit loops), run with --verify.

def np_conv_forward(x, w, b, stride, pad, groups=1):
    n, c, h, wd = x.shape
    f, cg, r, s = w.shape
    fg = f // groups
    oh = (h + 2 * pad[0] - r) // stride[0] + 1
    ow = (wd + 2 * pad[1] - s) // stride[1] + 1
    out = np.zeros((n, f, oh, ow))
    for ni in range(n):
        for fi in range(f):
            for oy in range(oh):
                for ox in range(ow):
                    acc = b[fi] if b is not None else 0.0
                    for ci in range(cg):
                        for ry in range(r):
                            for sx in range(s):
                                iy = oy * stride[0] - pad[0] + ry
                                ix = ox * stride[1] - pad[1] + sx
                                if 0 <= iy < h and 0 <= ix < wd:
                                    acc += x[ni, fi // fg * cg + ci, iy, ix] * w[fi, ci, ry, sx]
                    out[ni, fi, oy, ox] = acc
    return out


def np_conv_backward(x, w, g, stride, pad, groups=1):
    n, c, h, wd = x.shape
    f, cg, r, s = w.shape
    fg = f // groups
    gx = np.zeros_like(x)
    gw = np.zeros_like(w)
    for ni in range(n):
        for fi in range(f):
            for oy in range(g.shape[2]):
                for ox in range(g.shape[3]):
                    go = g[ni, fi, oy, ox]
                    for ci in range(cg):
                        xc = fi // fg * cg + ci
                        for ry in range(r):
                            for sx in range(s):
                                iy = oy * stride[0] - pad[0] + ry
                                ix = ox * stride[1] - pad[1] + sx
                                if 0 <= iy < h and 0 <= ix < wd:
                                    gx[ni, xc, iy, ix] += go * w[fi, ci, ry, sx]
                                    gw[fi, ci, ry, sx] += go * x[ni, xc, iy, ix]
    return gx, gw, g.sum(axis=(0, 2, 3))


def np_pool(x, g, k, stride, pad, kind):
    n, c, h, w = x.shape
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    gx = np.zeros_like(x)
    for ni in range(n):
        for ci in range(c):
            for oy in range(oh):
                for ox in range(ow):
                    cells = [(y, xx) for y in range(oy * stride - pad, oy * stride - pad + k)
                             for xx in range(ox * stride - pad, ox * stride - pad + k)
                             if 0 <= y < h and 0 <= xx < w]
                    if kind == "max":
                        y, xx = max(cells, key=lambda yx: x[ni, ci, yx[0], yx[1]])
                        out[ni, ci, oy, ox] = x[ni, ci, y, xx]
                        gx[ni, ci, y, xx] += g[ni, ci, oy, ox]
                    else:  # count_include_pad: always divide by k*k
                        out[ni, ci, oy, ox] = sum(x[ni, ci, y, xx] for y, xx in cells) / (k * k)
                        for y, xx in cells:
                            gx[ni, ci, y, xx] += g[ni, ci, oy, ox] / (k * k)
    return out, gx


def np_batchnorm(x, gamma, beta, rm, rv, g, training):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    m = x.size // x.shape[1]
    if training:
        mean = x.mean(axis=axes)
        var = ((x - mean.reshape(shape)) ** 2).mean(axis=axes)
    else:
        mean, var = rm, rv
    inv = 1.0 / np.sqrt(var + EPS)
    xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
    out = xhat * gamma.reshape(shape) + beta.reshape(shape)
    ggamma = (g * xhat).sum(axis=axes)
    gbeta = g.sum(axis=axes)
    gxhat = g * gamma.reshape(shape)
    if training:
        gx = (inv.reshape(shape) / m) * (m * gxhat - gxhat.sum(axis=axes).reshape(shape)
                                         - xhat * (gxhat * xhat).sum(axis=axes).reshape(shape))
        rm_out = (1 - MOMENTUM) * rm + MOMENTUM * mean
        rv_out = (1 - MOMENTUM) * rv + MOMENTUM * var * m / (m - 1)
    else:
        gx = gxhat * inv.reshape(shape)
        rm_out, rv_out = rm, rv
    return out, gx, ggamma, gbeta, rm_out, rv_out


def np_cross_entropy(logits, labels):
    labels = labels.astype(np.int64)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -logp[np.arange(n), labels].mean()
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1.0
    return loss, grad / n


class Checker:
    def __init__(self):
        self.worst = 0.0
        self.count = 0

    def __call__(self, case, name, got, want, rtol=2e-6, atol=1e-6):
        got = np.asarray(got, dtype=np.float64)
        want = np.asarray(want, dtype=np.float64)
        assert got.shape == want.shape, f"{case}.{name}: shape {got.shape} != {want.shape}"
        # The stored value is float32: it differs from the fp64 recomputation by rounding only.
        err = np.abs(got - want) / (np.abs(want) * rtol + atol)
        assert np.all(err <= 1.0), f"{case}.{name}: max scaled error {err.max()}"
        self.worst = max(self.worst, float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-3))))
        self.count += 1


CONV_SPECS = {
    "conv_3x3_pad1": ((1, 1), (1, 1)),
    "conv_5x5_pad2": ((1, 1), (2, 2)),
    "conv_1x3": ((1, 1), (0, 1)),
    "conv_3x1": ((1, 1), (1, 0)),
    "conv_1x1_stride2_nobias": ((2, 2), (0, 0)),
    "conv_3x3_stride2_pad1": ((2, 2), (1, 1)),
    "depthwise_3x3_stride2_pad1": ((2, 2), (1, 1), 6),
    "depthwise_5x5_pad2_nobias": ((1, 1), (2, 2), 4),
    "grouped_conv_3x3_g4": ((1, 1), (1, 1), 4),
}
POOL_SPECS = {
    "maxpool_2": (2, 2, 0, "max"), "maxpool_3_s2_p1": (3, 2, 1, "max"),
    "avgpool_2": (2, 2, 0, "avg"), "avgpool_3_s2_p1": (3, 2, 1, "avg"),
}
ACTIVATIONS = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(np.float64)),
    "leaky_relu": (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1.0, 0.01)),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
}


def np_residual_net(t, running=None):
    """The residual network's logits in numpy, from the loop kernels above. If running is a
    dict, each BN's running statistics after the step (starting from 0 and 1) are put in it."""
    def bn(path, x):
        c = x.shape[1]
        out, _, _, _, rm, rv = np_batchnorm(x, t[path + "gamma"], t[path + "beta"], np.zeros(c), np.ones(c),
                                            np.zeros_like(x), True)
        if running is not None:
            running[path] = (rm, rv)
        return out
    conv = lambda path, x, s, p: np_conv_forward(x, t[path + "weight"], t.get(path + "bias"), (s, s), (p, p))
    relu = lambda x: np.maximum(x, 0)
    h = relu(bn("1.", conv("0.", t["input"], 1, 1)))
    b = relu(bn("3.block.1.", conv("3.block.0.", h, 1, 1)))
    h = relu(bn("3.block.4.", conv("3.block.3.", b, 1, 1)) + h)
    b = relu(bn("5.block.1.", conv("5.block.0.", h, 2, 1)))
    b = bn("5.block.4.", conv("5.block.3.", b, 1, 1))
    h = relu(b + bn("5.projection_bn.", conv("5.projection.", h, 2, 0)))
    logits = h.mean(axis=(2, 3)) @ t["8.weight"].T + t["8.bias"]
    return logits


def np_max_pool_ceil(x, k, stride, pad):
    """Max pooling with ceil_mode=True (a last window is kept when it starts inside the image or
    its left padding), forward only."""
    n, c, h, w = x.shape

    def size(i):
        o = -(-(i + 2 * pad - k) // stride) + 1
        return o - 1 if (o - 1) * stride >= i + pad else o

    out = np.full((n, c, size(h), size(w)), -np.inf)
    for oy in range(out.shape[2]):
        for ox in range(out.shape[3]):
            y0, x0 = max(oy * stride - pad, 0), max(ox * stride - pad, 0)
            y1, x1 = min(oy * stride - pad + k, h), min(ox * stride - pad + k, w)
            out[:, :, oy, ox] = x[:, :, y0:y1, x0:x1].max(axis=(2, 3))
    return out


def np_inception(t, running=None):
    """The inception case's forward in numpy (training-mode batch norm); fills running[path]."""
    def basic(path, x, pad):
        y = np_conv_forward(x, t[path + "0.weight"], None, (1, 1), (pad, pad))
        mean, var = y.mean(axis=(0, 2, 3)), y.var(axis=(0, 2, 3))
        if running is not None:
            m = y.size // y.shape[1]
            running[path + "1."] = (MOMENTUM * mean, (1 - MOMENTUM) + MOMENTUM * var * m / (m - 1))
        y = (y - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + INCEPTION_EPS)
        y = y * t[path + "1.gamma"][None, :, None, None] + t[path + "1.beta"][None, :, None, None]
        return np.maximum(y, 0)

    x = np_max_pool_ceil(t["input"], 3, 2, 0)
    b0 = basic("1.0.", x, 0)
    b1 = basic("1.1.1.", basic("1.1.0.", x, 0), 1)
    b2 = basic("1.2.1.", basic("1.2.0.", x, 0), 1)
    b3 = basic("1.3.1.", np_max_pool_ceil(x, 3, 1, 1), 0)
    return np.concatenate([b0, b1, b2, b3], axis=1)


def verify(outdir):
    check = Checker()
    files = sorted(outdir.glob("*.bin"))
    assert {f.stem for f in files} == set(CASES), "fixture files do not match the case list"
    for path in files:
        case = path.stem
        t = read_fixture(path)
        assert all(np.all(np.isfinite(v)) for v in t.values())
        if case in CONV_SPECS:
            stride, pad, groups = (CONV_SPECS[case] + (1,))[:3]
            x, w, b, g = t["input"], t["weight"], t.get("bias"), t["grad_output"]
            check(case, "output", t["output"], np_conv_forward(x, w, b, stride, pad, groups))
            gx, gw, gb = np_conv_backward(x, w, g, stride, pad, groups)
            check(case, "grad_input", t["grad_input"], gx)
            check(case, "grad_weight", t["grad_weight"], gw)
            if b is not None:
                check(case, "grad_bias", t["grad_bias"], gb)
            else:
                assert "grad_bias" not in t
        elif case == "dense":
            x = t["input"].reshape(t["input"].shape[0], -1)
            g = t["grad_output"]
            check(case, "output", t["output"], x @ t["weight"].T + t["bias"])
            check(case, "grad_input", t["grad_input"], (g @ t["weight"]).reshape(t["input"].shape))
            check(case, "grad_weight", t["grad_weight"], g.T @ x)
            check(case, "grad_bias", t["grad_bias"], g.sum(axis=0))
        elif case in POOL_SPECS:
            k, s, p, kind = POOL_SPECS[case]
            out, gx = np_pool(t["input"], t["grad_output"], k, s, p, kind)
            check(case, "output", t["output"], out)
            check(case, "grad_input", t["grad_input"], gx)
        elif case == "global_avgpool":
            x = t["input"]
            hw = x.shape[2] * x.shape[3]
            check(case, "output", t["output"], x.mean(axis=(2, 3)))
            check(case, "grad_input", t["grad_input"],
                  np.broadcast_to(t["grad_output"][:, :, None, None] / hw, x.shape))
        elif case.startswith("batchnorm"):
            training = case.endswith("_train")
            out, gx, gg, gb, rm, rv = np_batchnorm(t["input"], t["gamma"], t["beta"], t["running_mean_in"],
                                                   t["running_var_in"], t["grad_output"], training)
            check(case, "output", t["output"], out)
            check(case, "grad_input", t["grad_input"], gx)
            check(case, "grad_gamma", t["grad_gamma"], gg)
            check(case, "grad_beta", t["grad_beta"], gb)
            if training:
                check(case, "running_mean_out", t["running_mean_out"], rm)
                check(case, "running_var_out", t["running_var_out"], rv)
            else:
                assert "running_mean_out" not in t
        elif case in ACTIVATIONS:
            fn, dfn = ACTIVATIONS[case]
            x = t["input"]
            check(case, "output", t["output"], fn(x))
            check(case, "grad_input", t["grad_input"], t["grad_output"] * dfn(x))
        elif case == "softmax_cross_entropy":
            loss, grad = np_cross_entropy(t["logits"], t["labels"])
            assert np.abs(t["logits"]).max() == 40.0
            check(case, "loss", t["loss"], [loss])
            check(case, "grad_logits", t["grad_logits"], grad)
        elif case == "mse":
            d = t["predictions"] - t["targets"]
            check(case, "loss", t["loss"], [np.mean(d * d)])
            check(case, "grad_predictions", t["grad_predictions"], 2 * d / d.size)
        elif case == "residual_net":
            running = {}
            logits = np_residual_net(t, running)
            assert len(running) == 6
            for path, (rm, rv) in running.items():
                check(case, path + "running_mean_out", t[path + "running_mean_out"], rm, rtol=1e-5, atol=1e-5)
                check(case, path + "running_var_out", t[path + "running_var_out"], rv, rtol=1e-5, atol=1e-5)
            check(case, "logits", t["logits"], logits, rtol=1e-5, atol=1e-5)
            loss, grad = np_cross_entropy(logits, t["labels"])
            check(case, "loss", t["loss"], [loss], rtol=1e-5, atol=1e-5)
            check(case, "grad_logits", t["grad_logits"], grad, rtol=1e-5, atol=1e-5)
            params = [k for k in t if not k.startswith("grad_") and k.endswith(("weight", "bias", "gamma", "beta"))]
            for k in params:
                assert f"grad_{k}" in t and t[f"grad_{k}"].shape == t[k].shape, k
            # Backward through the whole network, by central differences on the fp64 numpy model
            # (a few entries of the input and of each parameter).
            rng = np.random.default_rng(0)
            for k in ["input"] + params:
                flat = rng.choice(t[k].size, size=min(2, t[k].size), replace=False)
                for i in flat:
                    h = 1e-4
                    saved = t[k].flat[i]
                    t[k].flat[i] = saved + h
                    up = np_cross_entropy(np_residual_net(t), t["labels"])[0]
                    t[k].flat[i] = saved - h
                    down = np_cross_entropy(np_residual_net(t), t["labels"])[0]
                    t[k].flat[i] = saved
                    numeric = (up - down) / (2 * h)
                    stored = t[f"grad_{k}"].flat[i]
                    assert abs(stored - numeric) <= 1e-5 + 1e-4 * abs(numeric), (k, i, stored, numeric)
                    check.count += 1
        elif case == "inception":
            running = {}
            out = np_inception(t, running)
            check(case, "output", t["output"], out, rtol=1e-5, atol=1e-5)
            assert len(running) == 6
            for path, (rm, rv) in running.items():
                check(case, path + "running_mean_out", t[path + "running_mean_out"], rm, rtol=1e-5, atol=1e-5)
                check(case, path + "running_var_out", t[path + "running_var_out"], rv, rtol=1e-5, atol=1e-5)
            params = [k for k in t if not k.startswith("grad_") and k.endswith(("weight", "gamma", "beta"))]
            assert len(params) == 18, params
            # Backward by central differences of sum(output * grad_output) on the numpy model (one
            # entry of the input and of each parameter).
            rng = np.random.default_rng(0)
            for k in ["input"] + params:
                assert t[f"grad_{k}"].shape == t[k].shape, k
                i = int(rng.integers(t[k].size))
                h = 1e-4
                saved = t[k].flat[i]
                t[k].flat[i] = saved + h
                up = float((np_inception(t) * t["grad_output"]).sum())
                t[k].flat[i] = saved - h
                down = float((np_inception(t) * t["grad_output"]).sum())
                t[k].flat[i] = saved
                numeric = (up - down) / (2 * h)
                stored = t[f"grad_{k}"].flat[i]
                assert abs(stored - numeric) <= 1e-4 + 1e-3 * abs(numeric), (k, i, stored, numeric)
                check.count += 1
        else:
            raise AssertionError(f"no check for {case}")
        print(f"verified {case}")
    print(f"{check.count} comparisons passed; worst relative difference {check.worst:.3g}")


def main(argv):
    args = argv[1:]
    do_verify = "--verify" in args
    args = [a for a in args if a != "--verify"]
    only = None
    if "--only" in args:  # --only name[,name...]: write these cases and leave the other files alone
        at = args.index("--only")
        only = args[at + 1].split(",")
        del args[at:at + 2]
    outdir = Path(args[0]) if args else Path(__file__).resolve().parent / "fixtures"
    if do_verify:
        verify(outdir)
    else:
        generate(outdir, only)


if __name__ == "__main__":
    main(sys.argv)
