#!/usr/bin/python3
"""Writes tests/image/jpeg/: small JPEG files made by Pillow and the pixels Pillow decodes from
them (raw bytes, H x W x C), which image.jpeg_decoder compares with strata's decode_jpeg bit for
bit. Run by hand with Debian's Python (Pillow 9.4 on libjpeg-turbo 2.1.5); the outputs are
committed, so the test needs neither Python nor Pillow."""
import pathlib
import random

from PIL import Image

out = pathlib.Path(__file__).resolve().parent / "jpeg"
out.mkdir(exist_ok=True)
W, H = 37, 29  # not multiples of 8 or 16: partial blocks and MCUs at both edges

rng = random.Random(7)
rgb = Image.new("RGB", (W, H))
rgb.putdata([(min(255, 7 * x + rng.randrange(40)), min(255, 9 * y + rng.randrange(40)),
              (x * y + rng.randrange(60)) % 256) for y in range(H) for x in range(W)])


def save(name, im, **options):
    im.save(out / name, "JPEG", **options)


def expect(name, mode, draft=None):
    im = Image.open(out / name)
    if draft:
        im.draft(draft, im.size)
    im = im.convert(mode)
    (out / f"{pathlib.Path(name).stem}.{mode.lower()}.raw").write_bytes(im.tobytes())


save("rgb420.jpg", rgb, quality=90, subsampling=2)
expect("rgb420.jpg", "RGB")
# draft("L") asks libjpeg itself for grey: its luma Y, as strata's channels = 1 does.
expect("rgb420.jpg", "L", draft="L")
save("rgb444.jpg", rgb, quality=75, subsampling=0)
expect("rgb444.jpg", "RGB")
save("rgb422.jpg", rgb, quality=60, subsampling=1)
expect("rgb422.jpg", "RGB")
save("progressive.jpg", rgb, quality=85, progressive=True, optimize=True)
expect("progressive.jpg", "RGB")
save("grey.jpg", rgb.convert("L"), quality=80)
expect("grey.jpg", "L")
expect("grey.jpg", "RGB")
save("cmyk.jpg", rgb.convert("CMYK"), quality=90)
expect("cmyk.jpg", "RGB")
expect("cmyk.jpg", "L")
