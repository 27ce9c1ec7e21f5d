#!/usr/bin/env python3
"""The torchvision side of benchmarks/augmentation, as a coprocess: one thread, uint8 CHW
tensors, the transforms' tensor code paths. Requests alternate with strata's own timings.

Protocol: "image H W C" creates a random uint8 image and answers "ok"; "run <op> <count>"
applies op to it count times and answers the seconds taken; "quit" ends. The first line is
"ready <torchvision version>" or "unavailable <reason>".
"""
import sys
import time


def main():
    try:
        import torch
        import torchvision
        import torchvision.transforms as T
        import torchvision.transforms.functional as TF
    except ImportError as e:
        print(f"unavailable {e}", flush=True)
        return
    torch.set_num_threads(1)
    torch.manual_seed(0)
    bilinear = T.InterpolationMode.BILINEAR
    x = None

    def noise(img):  # torchvision 0.14 has no noise transform: the usual tensor expression
        return (img.float() + torch.randn(img.shape) * (0.05 * 255)).clamp_(0, 255).to(torch.uint8)

    def resnet_scale_crop(short_range, crop):  # ResNet's scale augmentation: short side L ~ U{lo..hi}
        lo, hi = short_range
        cropper = T.RandomCrop(crop)

        def f(img):
            size = int(torch.randint(lo, hi + 1, ()))
            return cropper(TF.resize(img, size, interpolation=bilinear, antialias=True))
        return f

    def ops(h, w):
        crop = min(h, w, 224)
        return {
            "hflip": TF.hflip,
            "vflip": TF.vflip,
            "random_resized_crop": T.RandomResizedCrop(crop, interpolation=bilinear, antialias=True),
            "resnet_scale_crop": resnet_scale_crop((256, 480) if h >= 224 else (28, 40), crop),
            "color_jitter": T.ColorJitter(0.4, 0.4, 0.4, 0.1),
            "affine": T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=10, interpolation=bilinear),
            "rotate": T.RandomRotation(15, interpolation=bilinear),
            "gaussian_noise": noise,
            "pad_crop": T.RandomCrop(min(h, w), padding=4),
        }

    table = {}
    print(f"ready {torchvision.__version__}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "image":
            h, w, c = (int(v) for v in words[1:4])
            x = torch.randint(0, 256, (c, h, w), dtype=torch.uint8)
            table = ops(h, w)
            print("ok", flush=True)
        elif words[0] == "run" and words[1] in table:
            f, count = table[words[1]], int(words[2])
            t0 = time.perf_counter()
            for _ in range(count):
                f(x)
            print(f"{time.perf_counter() - t0:.6f}", flush=True)
        else:
            print("error", flush=True)


if __name__ == "__main__":
    main()
