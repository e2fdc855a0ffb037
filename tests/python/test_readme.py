#!/usr/bin/env python3
"""The README's Python examples, run exactly as written (from a directory
where examples/ is the repository's), their printed results and files
checked against SciPy.  usage: test_readme.py CONVC [TEST ...]"""
import os, re, subprocess, sys

import numpy as np
import scipy.ndimage as ndi

import convc
from harness import EXAMPLES, ROOT, main, netpbm

CONVC = os.path.abspath(sys.argv[1])


def python_blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("\n## Python\n"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, f"expected the module's and the Dask example, found {len(blocks)} blocks"
    return blocks


def run_block(tmp, code):
    os.symlink(EXAMPLES, os.path.join(tmp, "examples"))
    with open(os.path.join(tmp, "example.py"), "w") as f:
        f.write(code)
    p = subprocess.run([sys.executable, "example.py"], cwd=tmp, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout


def sobel_ref(img):
    return np.hypot(ndi.sobel(img, axis=1, mode="nearest"), ndi.sobel(img, axis=0, mode="nearest"))


def test_using_the_module(tmp):
    code = python_blocks()[0]
    out = run_block(tmp, code).splitlines()
    ref = sobel_ref(netpbm(os.path.join(EXAMPLES, "data", "ascent.pgm")))
    assert out[0] == "{'img': ('H', 'W')} {'mag': ('H', 'W')}", out[0]
    assert out[1] == f"(512, 512) float32 {round(ref.max(), 3)}", (out[1], ref.max())
    # what the README says each print shows
    for line in out[:2]:
        assert f"# {line}" in code, f"the README does not show '{line}'"
    table = subprocess.run([CONVC, "check", "examples/sobel_edges.conv", "H=512", "W=512"], cwd=tmp,
                           capture_output=True, text=True, check=True).stdout
    assert "\n".join(out[2:]) + "\n" == table + "\n", out[2:]


def test_many_images_with_dask(tmp):
    out = run_block(tmp, python_blocks()[1]).splitlines()
    want = []
    for name in ("ascent", "face"):
        path = os.path.join(EXAMPLES, "data", name + (".pgm" if name == "ascent" else ".ppm"))
        img = netpbm(path)
        if img.ndim == 3:
            img = img.mean(axis=0)
        mag = sobel_ref(img)
        want.append((name, mag))
        # the edges written, scaled to their maximum
        png = convc.load(os.path.join(tmp, "out", f"{name}_edges.png"))
        assert png.shape == mag.shape, (name, png.shape)
        levels = np.round(np.clip(mag / mag.max(), 0, 1) * 255)
        assert np.abs(png * 255 - levels).max() <= 1.0001, name
    assert len(out) == 2, out
    for line, (name, mag) in zip(out, want):
        n, shape, mean = re.fullmatch(r"(\w+) (\(\d+, \d+\)) ([0-9.]+)", line).groups()
        assert n == name and shape == str(mag.shape), line
        assert abs(float(mean) - mag.mean()) <= 1.5e-4, (line, mag.mean())


if __name__ == "__main__":
    main(globals())
