#!/usr/bin/env python3
"""The PyTorch side of benchmarks/depthwise_conv, as a coprocess that times one call per request,
so that PyTorch's calls interleave with strata's in the same rounds.

  /usr/bin/python3 depthwise_pytorch.py --threads 2

Protocol (one line each way): "layer N C H kernel stride pad" sets up random NCHW fp32 tensors for
a depthwise convolution (Conv2d(C, C, kernel, stride, pad, groups=C), with bias) and answers "ok";
"run forward K" runs torch.nn.functional.conv2d K times back to back and answers the K times in
milliseconds, space-separated; "quit" ends. The first line written is "ready <torch version>", or "unavailable <reason>" when PyTorch
cannot be imported.
"""
import argparse
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:  # python3-torch missing: say so instead of failing
        print(f"unavailable {e}", flush=True)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"ready {torch.__version__}", flush=True)
    layer = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "layer":
            n, c, h, r, s, pad = (int(v) for v in words[1:7])
            layer = dict(x=torch.randn(n, c, h, h), w=torch.randn(c, 1, r, r) * 0.1, b=torch.randn(c), c=c, s=s, pad=pad)
            print("ok", flush=True)
            continue
        if words[0] == "run" and layer is not None and words[1] == "forward":
            L = layer
            times = []
            with torch.no_grad():
                for _ in range(int(words[2]) if len(words) > 2 else 1):
                    t0 = time.perf_counter()
                    F.conv2d(L["x"], L["w"], L["b"], stride=L["s"], padding=L["pad"], groups=L["c"])
                    times.append((time.perf_counter() - t0) * 1e3)
            print(" ".join(f"{t:.4f}" for t in times), flush=True)
            continue
        print("error", flush=True)


if __name__ == "__main__":
    main()
