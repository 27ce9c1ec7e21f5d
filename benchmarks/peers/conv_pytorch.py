#!/usr/bin/env python3
"""The PyTorch side of benchmarks/conv_algorithms, as a coprocess that times one call per request,
so that PyTorch's calls interleave with strata's and oneDNN's in the same rounds (on a shared
2-vCPU machine, timings measured minutes apart differ by up to 2x).

  /usr/bin/python3 conv_pytorch.py --threads 2

Protocol (one line each way): "layer N C H K kernel stride pad" sets up random NCHW fp32 tensors
and answers "ok"; "run forward|backward_data|backward_filter" runs that pass once and answers
its time in milliseconds; "quit" ends. The first line written is "ready <torch version>", or
"unavailable <reason>" when PyTorch cannot be imported.

forward is torch.nn.functional.conv2d; the backward passes call aten's convolution_backward with
an output mask, so exactly one pass runs (backward_filter computes the bias gradient too, as
strata's does), without autograd's forward.
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
            n, c, h, k, r, s, pad = (int(v) for v in words[1:8])
            x = torch.randn(n, c, h, h)
            w = torch.randn(k, c, r, r) * 0.1
            b = torch.randn(k)
            y = F.conv2d(x, w, b, stride=s, padding=pad)
            layer = dict(x=x, w=w, b=b, dy=torch.randn_like(y), k=k, s=s, pad=pad)
            print("ok", flush=True)
            continue
        if words[0] == "run" and layer is not None:
            L = layer
            common = ([L["s"]] * 2, [L["pad"]] * 2, [1, 1], False, [0, 0], 1)
            t0 = time.perf_counter()
            with torch.no_grad():
                if words[1] == "forward":
                    F.conv2d(L["x"], L["w"], L["b"], stride=L["s"], padding=L["pad"])
                elif words[1] == "backward_data":
                    torch.ops.aten.convolution_backward(L["dy"], L["x"], L["w"], None, *common, [True, False, False])
                else:
                    torch.ops.aten.convolution_backward(L["dy"], L["x"], L["w"], [L["k"]], *common, [False, True, True])
            print(f"{(time.perf_counter() - t0) * 1e3:.4f}", flush=True)
            continue
        print("error", flush=True)


if __name__ == "__main__":
    main()
