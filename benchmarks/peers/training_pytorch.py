#!/usr/bin/env python3
"""The PyTorch side of benchmarks/training, as a coprocess, so that PyTorch's training chunks and
inference passes interleave with strata's in the same rounds (on a shared 2-vCPU machine,
PyTorch alone measured 417-711 images/s in runs minutes apart).

  /usr/bin/python3 training_pytorch.py [--data DIR] [--threads 2] [--seed 1]

Loads Fashion-MNIST once and builds the network of strata's demo (conv 5x5x32 pad 2 - ReLU -
maxpool 2 - conv 5x5x64 pad 2 - ReLU - maxpool 2 - dense 1024 - ReLU - dense 10, PyTorch's
default initialisation), SGD lr 0.01 momentum 0.9. Protocol, one line each way:

  train FIRST COUNT   trains on training images [FIRST, FIRST+COUNT) in that order, in batches
                      of 64 (the last one shorter when COUNT is not a multiple); answers
                      "SECONDS MEAN_LOSS" (loss per image, averaged over the images)
  infer               the whole test set in batches of 256, no gradients; answers
                      "SECONDS ACCURACY"
  peak                answers this process's peak RSS in MiB
  quit                ends

The first line written is "ready <torch version>", or "unavailable <reason>" when PyTorch or the
data cannot be loaded. Anything else is answered "error <why>".

With --oneshot it instead trains one epoch on the whole training set (same fixed order) and
prints the old one-shot summary ending in a RESULT line (--limit N: the first N images only).
"""
import argparse
import gzip
import os
import resource
import struct
import sys
import time


def read_idx(path):
    import numpy as np
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


def load(torch, directory, split):
    import numpy as np
    images = read_idx(find(directory, f"{split}-images-idx3-ubyte"))
    labels = read_idx(find(directory, f"{split}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1).contiguous()
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def make_net(torch):
    nn, F = torch.nn, torch.nn.functional

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

    return Net()


class Trainer:
    def __init__(self, torch, args):
        self.torch = torch
        self.F = torch.nn.functional
        self.batch = args.batch
        self.xtr, self.ytr = load(torch, args.data, "train")
        self.xte, self.yte = load(torch, args.data, "t10k")
        self.net = make_net(torch)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=args.lr, momentum=0.9)

    def train(self, first, count):
        """Trains on images [first, first+count) in order; returns (seconds, mean loss per image)."""
        net, opt, F = self.net, self.opt, self.F
        end = min(first + count, self.xtr.shape[0])
        net.train()
        loss_sum = 0.0
        t0 = time.perf_counter()
        for b in range(first, end, self.batch):
            e = min(b + self.batch, end)
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(self.xtr[b:e]), self.ytr[b:e])
            loss.backward()
            opt.step()
            loss_sum += loss.item() * (e - b)
        seconds = time.perf_counter() - t0
        return seconds, loss_sum / max(1, end - first)

    def infer(self):
        """The whole test set in batches of 256; returns (seconds, accuracy)."""
        net, torch = self.net, self.torch
        net.eval()
        correct = 0
        n = self.xte.shape[0]
        t0 = time.perf_counter()
        with torch.no_grad():
            for b in range(0, n, 256):
                correct += (net(self.xte[b:b + 256]).argmax(1) == self.yte[b:b + 256]).sum().item()
        seconds = time.perf_counter() - t0
        return seconds, correct / n


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def serve(trainer, torch):
    print(f"ready {torch.__version__}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "train" and len(words) == 3:
                seconds, loss = trainer.train(int(words[1]), int(words[2]))
                print(f"{seconds:.6f} {loss:.6f}", flush=True)
            elif words[0] == "infer":
                seconds, accuracy = trainer.infer()
                print(f"{seconds:.6f} {accuracy:.6f}", flush=True)
            elif words[0] == "peak":
                print(f"{peak_mib():.1f}", flush=True)
            else:
                print(f"error unknown request: {line.strip()}", flush=True)
        except Exception as e:  # keep the protocol alive: one reply per request
            print(f"error {type(e).__name__}: {e}".replace("\n", " "), flush=True)


def oneshot(trainer, torch, limit):
    n = trainer.xtr.shape[0] if not limit else min(limit, trainer.xtr.shape[0])
    train_seconds, loss = trainer.train(0, n)
    infer_seconds, accuracy = trainer.infer()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN {torch.backends.mkldnn.is_available()}, "
          f"{n} images in a fixed order, mean training loss {loss:.4f}")
    print(f"RESULT train_images_per_second={n / train_seconds:.1f} "
          f"inference_images_per_second={trainer.xte.shape[0] / infer_seconds:.1f} "
          f"test_accuracy={accuracy:.4f} peak_rss_mib={peak_mib():.0f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--oneshot", action="store_true", help="one epoch, then a RESULT line (no protocol)")
    p.add_argument("--limit", type=int, default=0, help="--oneshot: train on the first N images only")
    args = p.parse_args()
    try:
        import torch
    except ImportError as e:  # python3-torch missing: say so instead of failing
        print(f"unavailable {e}", flush=True)
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        trainer = Trainer(torch, args)
    except Exception as e:
        print(f"unavailable cannot load the data: {e}".replace("\n", " "), flush=True)
        return
    if args.oneshot:
        oneshot(trainer, torch, args.limit)
    else:
        serve(trainer, torch)


if __name__ == "__main__":
    main()
