#!/usr/bin/python3
"""make_interp_fixtures.py: writes tests/fixtures/bicubic.json, the PyTorch
reference values for the engine's bicubic resizing (tensor/image_ops.h).

Run from the repository root with Debian's PyTorch (python3-torch):
    /usr/bin/python3 tools/reference/make_interp_fixtures.py

Each case resizes a small random [N, C, h, w] input with
F.interpolate(mode="bicubic", align_corners=False), either to an explicit
size or by scale factors, with and without antialias, and records the output
and the gradient of L = sum(out * w) with respect to the input, where
w[i] = ((7 * i) % 11 - 5) / 4 over the flattened output (exact in float, so the
C++ test rebuilds it without storing it).
"""
import json
import os

import torch
import torch.nn.functional as F

CASES = [
    # name, input shape, size or None, scale factors or None, antialias
    ("up_down_size", (1, 3, 5, 6), (9, 4), None, False),
    ("up_down_size_aa", (1, 3, 5, 6), (9, 4), None, True),
    ("down_size", (1, 2, 7, 9), (3, 5), None, False),
    ("down_size_aa", (1, 2, 7, 9), (3, 5), None, True),
    ("up_size_aa", (1, 1, 3, 4), (7, 10), None, True),
    ("dinov2_grid_aa", (1, 4, 6, 6), (8, 5), None, True),  # like a 37x37 pos-embed grid to another image size
    ("scale", (2, 2, 4, 5), None, (1.7, 0.6), False),
    ("scale_aa", (2, 2, 4, 5), None, (1.7, 0.6), True),
    ("one_pixel", (1, 2, 1, 3), (2, 3), None, False),
]


def weights(n):
    return torch.tensor([((7 * i) % 11 - 5) / 4.0 for i in range(n)], dtype=torch.float32)


def flat(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def main():
    torch.manual_seed(20240611)
    cases = []
    for name, shape, size, scale, aa in CASES:
        x = torch.randn(*shape, dtype=torch.float32, requires_grad=True)
        if size is not None:
            out = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=aa)
        else:
            out = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False, antialias=aa)
        (out * weights(out.numel()).reshape(out.shape)).sum().backward()
        cases.append({
            "name": name,
            "shape": list(shape),
            "size": list(size) if size is not None else None,
            "scale": list(scale) if scale is not None else None,
            "antialias": aa,
            "out_shape": list(out.shape),
            "input": flat(x),
            "output": flat(out),
            "grad": flat(x.grad),
        })
    doc = {"generator": "tools/reference/make_interp_fixtures.py", "torch": torch.__version__, "cases": cases}
    path = os.path.join("tests", "fixtures", "bicubic.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, os.path.getsize(path), "bytes,", len(cases), "cases")


if __name__ == "__main__":
    main()
