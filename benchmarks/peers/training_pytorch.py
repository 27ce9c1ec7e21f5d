#!/usr/bin/env python3
"""The PyTorch side of benchmarks/training: the same network, data, batch size, optimizer and
learning rate as strata's run, one epoch of Fashion-MNIST on the CPU; prints training and
inference images/s, test accuracy and peak memory, ending with one RESULT line.

Run with Debian's python (python3-torch): /usr/bin/python3 training_pytorch.py [--data DIR]
[--threads 2] [--epochs 1] [--limit N]
"""
import argparse
import gzip
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(directory, stem):
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise FileNotFoundError(f"no {stem}[.gz] in {directory}")


def load(directory, split):
    images = read_idx(find(directory, f"{split}-images-idx3-ubyte"))
    labels = read_idx(find(directory, f"{split}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 1024)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only (quick runs)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load(args.data, "train")
    xte, yte = load(args.data, "t10k")
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    n = xtr.shape[0]
    train_seconds = 0.0
    for epoch in range(args.epochs):
        order = torch.randperm(n)
        net.train()
        t0 = time.perf_counter()
        for first in range(0, n, args.batch):
            idx = order[first:first + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
        train_seconds += time.perf_counter() - t0
        net.eval()
        correct = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            for first in range(0, xte.shape[0], 256):
                correct += (net(xte[first:first + 256]).argmax(1) == yte[first:first + 256]).sum().item()
        infer_seconds = time.perf_counter() - t0
        accuracy = correct / xte.shape[0]
        print(f"pytorch epoch {epoch + 1}: test accuracy {100 * accuracy:.2f}%", file=sys.stderr)
    train_rate = n * args.epochs / train_seconds
    infer_rate = xte.shape[0] / infer_seconds
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN {torch.backends.mkldnn.is_available()}")
    print(f"RESULT train_images_per_second={train_rate:.1f} inference_images_per_second={infer_rate:.1f} "
          f"test_accuracy={accuracy:.4f} peak_rss_mib={peak_mib:.0f}")


if __name__ == "__main__":
    main()
