#!/usr/bin/env python3
"""Writes the small seed corpora of fuzz/corpus/ (except model_archive's, see make_model_seed.cpp):
valid inputs of each reader, so the fuzzer starts inside the formats. Run from the repository
root: python3 fuzz/seeds/make_seeds.py (needs Pillow; ONNX seeds need PyTorch)."""
import gzip
import io
import os
import struct
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(type_code, dims, payload):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


images = idx(0x08, [3, 4, 4], bytes(range(48)))
labels = idx(0x08, [3], bytes([1, 7, 3]))
put("idx", "images.idx", images)
put("idx", "labels.idx", labels)
put("idx", "int16.idx", idx(0x0B, [2, 3], struct.pack(">6h", 1, -2, 3, -4, 5, -6)))
put("idx", "float32.idx", idx(0x0D, [4], struct.pack(">4f", 0.5, -1.0, 2.0, 3.25)))
put("idx", "float64.idx", idx(0x0E, [1, 2], struct.pack(">2d", 1.5, -2.5)))
put("idx", "images.idx.gz", gzip.compress(images, mtime=0))
put("idx", "images_and_labels.idx", images + labels)  # the target reads the last 64 bytes as labels
for name, content in [("images", images), ("labels", labels), ("int32", idx(0x0C, [2], struct.pack(">2i", 7, -9)))]:
    put("idx_gzip", name, content + b"\x00")  # last byte: how the target cuts the stream (0: whole)
put("idx_gzip", "images_cut", images + b"\x09")

record10 = bytes([3]) + bytes((i * 7) % 256 for i in range(3072))
record100 = bytes([5, 42]) + bytes((i * 11) % 256 for i in range(3072))
put("cifar", "cifar10_two_records", b"\x00" + record10 + record10)
put("cifar", "cifar100_one_record", b"\x01" + record100)
put("cifar", "cifar100_coarse", b"\x03" + record100)

from PIL import Image  # noqa: E402

pixels = Image.new("RGB", (8, 6))
pixels.putdata([((x * 31) % 256, (y * 40) % 256, (x * y * 9) % 256) for y in range(6) for x in range(8)])
grey = pixels.convert("L")
formats = {}
for name, im, fmt, opts in [
    ("rgb.png", pixels, "PNG", {}),
    ("grey.png", grey, "PNG", {}),
    ("palette.png", pixels.convert("P"), "PNG", {}),
    ("rgba.png", pixels.convert("RGBA"), "PNG", {}),
    ("rgb.jpg", pixels, "JPEG", {"quality": 90}),
    ("progressive.jpg", pixels, "JPEG", {"quality": 80, "progressive": True}),
    ("grey.jpg", grey, "JPEG", {}),
    ("rgb.bmp", pixels, "BMP", {}),
    ("rgb.gif", pixels.convert("P"), "GIF", {}),
    ("rgb.tga", pixels, "TGA", {}),
    ("rgb.ppm", pixels, "PPM", {}),
]:
    b = io.BytesIO()
    im.save(b, fmt, **opts)
    formats[name] = b.getvalue()
    put("image", name, bytes([3 if "rgb" in name else 0]) + formats[name])
b = io.BytesIO()
Image.new("I;16", (4, 4), 1000).save(b, "PNG")
put("image", "grey16.png", b"\x80" + b.getvalue())  # 16-bit pixels asked for

# Formats Pillow cannot write, by hand: Radiance HDR (run-length encoded and flat) and PSD (raw
# and run-length encoded), so the fuzzer starts inside those decoders too.
hdr_header = b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n"
hdr_rle = hdr_header + b"-Y 2 +X 8\n"
for row in range(2):
    hdr_rle += bytes([2, 2, 0, 8])
    hdr_rle += bytes([8]) + bytes((row * 40 + x * 30) % 256 for x in range(8))  # red: a dump of 8
    hdr_rle += bytes([128 + 8, 90 + row])                                          # green: a run of 8
    hdr_rle += bytes([3, 10, 20, 30, 128 + 5, 40])                                 # blue: a dump of 3, a run of 5
    hdr_rle += bytes([128 + 8, 129])                                               # exponent
put("image", "rgb.hdr", b"\x03" + hdr_rle)
put("image", "flat.hdr", b"\x00" + hdr_header + b"-Y 2 +X 4\n" + bytes((i * 37) % 256 if i % 4 != 3 else 128 for i in range(32)))


def psd(width, height, planes, run_length):
    out = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3) + struct.pack(">III", 0, 0, 0)
    if not run_length:
        return out + struct.pack(">H", 0) + b"".join(planes)
    rows = [bytes([width - 1]) + plane[y * width:(y + 1) * width] for plane in planes for y in range(height)]
    return out + struct.pack(">H", 1) + b"".join(struct.pack(">H", len(r)) for r in rows) + b"".join(rows)


planes = [bytes((x * 31 + k * 70) % 256 for x in range(12)) for k in range(3)]
put("image", "rgb.psd", b"\x03" + psd(4, 3, planes, False))
put("image", "rle.psd", b"\x00" + psd(4, 3, planes, True))


# image_folder's names map bytes onto its alphabet "abc.png/jpgbmpABC_0-" by index.
alphabet = "abc.png/jpgbmpABC_0-"


def folder_bytes(entries, channels=0):
    out = bytes([channels])
    for name, content in entries:
        encoded = bytes(alphabet.index(c) for c in name)
        out += bytes([len(encoded)]) + encoded + struct.pack(">H", len(content)) + content
    return out


put("image_folder", "two_classes", folder_bytes([("a/b.png", formats["rgb.png"]), ("b/c.jpg", formats["rgb.jpg"]),
                                                 ("b/a.bmp", formats["rgb.bmp"])], channels=3))
put("image_folder", "grey_and_colour", folder_bytes([("a/a.png", formats["grey.png"]), ("c/a.png", formats["rgb.png"])], channels=1))

try:
    import torch
except ImportError:
    print("make_seeds: no PyTorch, ONNX seeds left as they are", file=sys.stderr)
    sys.exit(0)

torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 3))
b = io.BytesIO()
torch.onnx.export(net, torch.zeros(1, 1, 8, 8), b, opset_version=13, input_names=["x"], output_names=["y"])
put("onnx", "small_network.onnx", b.getvalue())
