#!/usr/bin/env python3
"""The PyTorch side of benchmarks/inference, as a coprocess timing one request at a time, so that
PyTorch's forward passes interleave with strata's in the same rounds.

  /usr/bin/python3 inference_pytorch.py --threads 2 [--pretrained DIR]

Protocol (one line each way): "net demo N" or "net effnet N" builds the network in eval mode —
the demo network of benchmarks/training (FashionNet) or EfficientNet-Lite0
(tools/pretrained/efficientnet_lite0.py; the ImageNet weights from DIR's state dict when given,
else random ones) — and a random input batch of N, and answers "ok"; "run K" runs K forward
passes under torch.no_grad() and answers their times in milliseconds; "quit" ends. The first
line is "ready <torch version>" or "unavailable <reason>".
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--pretrained", default="")
    args = p.parse_args()
    try:
        import torch
        sys.path.insert(0, str(ROOT / "benchmarks" / "peers"))
        sys.path.insert(0, str(ROOT / "tools" / "pretrained"))
        from training_pytorch import make_net
        import efficientnet_lite0 as lite
    except Exception as e:  # python3-torch missing: say so instead of failing
        print(f"unavailable {e}", flush=True)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"ready {torch.__version__}", flush=True)
    model, x = None, None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "net" and len(words) == 3:
            n = int(words[2])
            if words[1] == "demo":
                model, x = make_net(torch).eval(), torch.randn(n, 1, 28, 28)
            else:
                pth = Path(args.pretrained) / "efficientnet-lite0-57934424.pth" if args.pretrained else None
                state = torch.load(pth, map_location="cpu") if pth and pth.is_file() else lite.random_state_dict(1)
                model, x = lite.build(state), torch.randn(n, 3, 224, 224)
            print("ok", flush=True)
            continue
        if words[0] == "run" and model is not None:
            times = []
            with torch.no_grad():
                for _ in range(int(words[1]) if len(words) > 1 else 1):
                    t0 = time.perf_counter()
                    model(x)
                    times.append((time.perf_counter() - t0) * 1e3)
            print(" ".join(f"{t:.4f}" for t in times), flush=True)
            continue
        print("error", flush=True)


if __name__ == "__main__":
    main()
