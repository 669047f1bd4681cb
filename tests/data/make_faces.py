#!/usr/bin/python3
"""Rebuild tests/data/faces/ from the Debian packages named in tests/data/SOURCES.md.

    mkdir -p /tmp/debs && cd /tmp/debs
    apt-get download python3-skimage python-matplotlib-data kphotoalbum gramps
    for d in *.deb; do dpkg -x "$d" root; done
    /usr/bin/python3 tests/data/make_faces.py /tmp/debs/root tests/data/faces

Needs Debian's python3-pil (run with /usr/bin/python3).  Files no larger than 640 px are copied
byte for byte; larger ones are downscaled (Lanczos) to 640 px on the long side and re-encoded
(JPEG quality 90, 4:2:0, no EXIF); crops are cut at native resolution and saved as PNG.
The output is what the goldens in tests/data/goldens/ were made from.
"""
import os
import shutil
import sys

from PIL import Image

SK = "usr/lib/python3/dist-packages/skimage/data"
MPL = "usr/share/matplotlib/mpl-data/sample_data"
KPA = "usr/share/kphotoalbum/demo"
GR = "usr/share/doc/gramps/example/gramps"

# output name -> path inside the package (relative to the dpkg -x root)
WHOLE = {
    "astronaut.png": f"{SK}/astronaut.png",
    "cameraman_profile.png": f"{SK}/camera.png",
    "cat_noface.png": f"{SK}/chelsea.png",
    "grace_hopper_glasses.jpg": f"{MPL}/grace_hopper.jpg",
    "group3_glasses_qt.jpg": f"{KPA}/qt-logo.jpg",
    "group_bar.jpg": f"{KPA}/bar55.jpg",
    "pair_bar.jpg": f"{KPA}/bar55_2.jpg",
    "closeup_background.jpg": f"{KPA}/new_wave_2.jpg",
    "profile_pool.jpg": f"{KPA}/pool.jpg",
    "frontal_jesper.jpg": f"{KPA}/jesper_2.jpg",
    "old_photo_dahlgren.jpg": f"{GR}/E_W_Dahlgren.jpg",
}

# output name -> (path inside the package, (left, top, size)) square crops, native resolution
CROPS = {
    # ~1.5x the MediaPipe face box of astronaut.png, centred on it
    "crop_face_astronaut.png": (f"{SK}/astronaut.png", (146, 44, 160)),
    # wooden table of coffee.png: no face
    "crop_noface_coffee.png": (f"{SK}/coffee.png", (0, 208, 192)),
}

MAX_SIDE = 640


def main():
    root, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    for name, rel in WHOLE.items():
        src = os.path.join(root, rel)
        dst = os.path.join(out, name)
        im = Image.open(src)
        if max(im.size) <= MAX_SIDE:
            shutil.copyfile(src, dst)
            continue
        scale = MAX_SIDE / max(im.size)
        size = (round(im.width * scale), round(im.height * scale))
        im = im.convert("RGB").resize(size, Image.LANCZOS)
        if name.endswith(".jpg"):
            im.save(dst, "JPEG", quality=90, subsampling="4:2:0", optimize=True)
        else:
            im.save(dst, "PNG", optimize=True)
    for name, (rel, (x, y, s)) in CROPS.items():
        im = Image.open(os.path.join(root, rel)).convert("RGB")
        im.crop((x, y, x + s, y + s)).save(os.path.join(out, name), "PNG", optimize=True)
    for name in sorted(os.listdir(out)):
        im = Image.open(os.path.join(out, name))
        print(f"{name}: {im.width}x{im.height} {im.mode} {os.path.getsize(os.path.join(out, name))} B")


if __name__ == "__main__":
    main()
