#!/usr/bin/env python3
"""Export torchvision's ResNet-18, GoogLeNet, AlexNet and VGG-16 (random weights) as ONNX, with a reference.

Usage (Debian's PyTorch 1.13 / torchvision 0.14; the io.onnx_import.zoo_export test runs it):
    /usr/bin/python3 tests/io/make_zoo_onnx.py OUTDIR [resnet18 googlenet alexnet vgg16]

For each model NAME (all four when none is named) writes
  OUTDIR/NAME.onnx     opset 13, input "input" [1, 3, 224, 224] (fixed batch 1), output "logits"
                       [1, 1000]; exported from eval() with training=TrainingMode.PRESERVE and
                       do_constant_folding=False, so BatchNormalization stays a node (not folded
                       into the Conv) and the initializers carry the state-dict names
                       ("conv1.weight", "bn1.running_var", "features.0.bias", ...)
  OUTDIR/NAME_io.bin   SFIX (tests/reference/README.md): "input" [1, 3, 224, 224], standard normal
                       rounded to float32, and "logits" [1, 1000]: the model in float64 on exactly
                       that input, rounded once to float32; "logits_float32": PyTorch's own
                       float32 forward, the conditioning baseline the C++ test compares with
Weights: torchvision.models.NAME(weights=None) built after torch.manual_seed(0) (GoogLeNet with
aux_logits=False, init_weights=True, transform_input=False), then re-drawn from the same stream:
every Conv2d and Linear weight He-normal (fan_in, ReLU gain), so logits are O(1) rather than ~0.03,
and every bias U(-0.1, 0.1). Torchvision's zero biases would not do: torch 1.13's exporter
de-duplicates initializers with equal shape and values, so VGG-16's zero biases would share a few
initializers instead of having one each under their state-dict names (checked below). BatchNorm
is non-trivial: gamma ~ U(0.5, 1.5), beta ~ U(-0.25, 0.25), and the running mean and variance are
the exact (cumulative) statistics of two training-mode passes over 4 standard-normal images each,
so they are far from 0 and 1 but keep the activations at a sane scale through the depth. The
input is drawn from a torch.Generator seeded with 1.

Deterministic (same bytes each run) and idempotent: a model whose two files exist and are newer
than this script is skipped. Files are written under a .tmp name and renamed. Exits 77 (CTest:
skipped) with the reason on stderr when torch or torchvision cannot be imported. Prints per model
the op-type counts, the file size and the seconds taken. VGG-16's file is ~528 MB (138 M
parameters, all kept); it needs about 1.2 GB free while written.
"""

import os
import shutil
import sys
import time
from pathlib import Path

SKIP = 77
MODELS = ("resnet18", "googlenet", "alexnet", "vgg16")

try:
    import torch
    import torch.nn as nn
    import torchvision
except Exception as e:  # ImportError, or a broken install (e.g. a missing shared library)
    print(f"make_zoo_onnx.py: skipped: cannot import torch and torchvision with {sys.executable} ({e}); "
          f"scripts/setup --benchmarks installs Debian's python3-torch and python3-torchvision", file=sys.stderr)
    sys.exit(SKIP)

# SFIX writing and the protobuf walk over an .onnx file are shared with the conversion tools.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "pytorch"))
from export_state_dict import format_ops, onnx_summary, write_sfix  # noqa: E402


# --------------------------------------------------------------------------------------------------------------------

def build(name):
    torch.manual_seed(0)
    kwargs = dict(aux_logits=False, init_weights=True, transform_input=False) if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if bns:
        with torch.no_grad():
            for m in bns:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.25, 0.25)
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration passes
            model.train()
            for _ in range(2):
                model(torch.randn(4, 3, 224, 224))
            for m in bns:
                m.momentum = 0.1
                m.num_batches_tracked.zero_()
    return model.eval()


def export(name, outdir):
    start = time.time()
    model = build(name)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model.double()(x.double())
        logits32 = model.float()(x)
    onnx_path, io_path = outdir / f"{name}.onnx", outdir / f"{name}_io.bin"
    tmp = onnx_path.with_name(onnx_path.name + ".tmp")
    torch.onnx.export(model, x, str(tmp), opset_version=13, input_names=["input"], output_names=["logits"],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    summary = onnx_summary(tmp)
    ops, inits = summary["ops"], [n for n, _ in summary["initializers"]]
    keys = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    if sorted(inits) != sorted(keys):
        raise SystemExit(f"{name}: ONNX initializers differ from the state dict: "
                         f"{sorted(set(inits) ^ set(keys))[:6]}")
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) and "BatchNormalization" not in ops:
        raise SystemExit(f"{name}: the export has no BatchNormalization node (folded into the Conv?)")
    os.replace(tmp, onnx_path)
    write_sfix(io_path, [("input", x), ("logits", logits), ("logits_float32", logits32)])
    print(f"{name}: {len(summary['nodes'])} nodes: {format_ops(ops)}")
    print(f"  {onnx_path.name} {onnx_path.stat().st_size / 1e6:.1f} MB, {len(inits)} initializers; "
          f"max |logit| {float(logits.abs().max()):.3g}, float32 vs float64 forward max |diff| "
          f"{float((logits32.double() - logits).abs().max()):.2e}; {time.time() - start:.1f} s")
    sys.stdout.flush()


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) >= 2 else 2
    outdir = Path(sys.argv[1])
    names = sys.argv[2:] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print(f"make_zoo_onnx.py: unknown model(s) {unknown}; choose from {list(MODELS)}", file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    outdir.mkdir(parents=True, exist_ok=True)
    script_time = Path(__file__).stat().st_mtime
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}; writing to {outdir}")
    for name in names:
        files = [outdir / f"{name}.onnx", outdir / f"{name}_io.bin"]
        if all(f.is_file() and f.stat().st_mtime > script_time for f in files):
            print(f"{name}: up to date")
            continue
        need = 1.2e9 if name == "vgg16" else 0.3e9
        free = shutil.disk_usage(outdir).free
        if free < need:
            print(f"make_zoo_onnx.py: {name} needs about {need / 1e9:.1f} GB free in {outdir}, "
                  f"{free / 1e9:.2f} GB are", file=sys.stderr)
            return 1
        export(name, outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
