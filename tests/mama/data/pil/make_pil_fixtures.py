#!/usr/bin/python3
# make_pil_fixtures.py: writes the PIL reference outputs that test_image.cpp and
# test_transforms.cpp compare against (the reference pipeline runs torchvision
# on PIL "L" images, so PIL itself is the oracle). Run with Debian's python3:
#   /usr/bin/python3 tests/mama/data/pil/make_pil_fixtures.py
import os
import numpy as np
from PIL import Image, ImageEnhance

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20240611)
# A smooth ramp plus noise, so resampling ties and clipping both occur.
y, x = np.mgrid[0:19, 0:29]
a = np.clip(40 + 6 * x + 3 * y + rng.normal(0, 25, (19, 29)), 0, 255).astype(np.uint8)
img = Image.fromarray(a, mode="L")
img.save(os.path.join(here, "in.pgm"))
img.resize((11, 7), Image.BILINEAR).save(os.path.join(here, "bilinear_11x7.pgm"))
img.resize((40, 50), Image.BILINEAR).save(os.path.join(here, "bilinear_40x50.pgm"))
img.resize((29, 8), Image.BILINEAR).save(os.path.join(here, "bilinear_29x8.pgm"))
ImageEnhance.Brightness(img).enhance(1.37).save(os.path.join(here, "brightness_1.37.pgm"))
ImageEnhance.Brightness(img).enhance(0.45).save(os.path.join(here, "brightness_0.45.pgm"))
ImageEnhance.Contrast(img).enhance(1.55).save(os.path.join(here, "contrast_1.55.pgm"))
ImageEnhance.Contrast(img).enhance(0.61).save(os.path.join(here, "contrast_0.61.pgm"))
