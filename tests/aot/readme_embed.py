#!/usr/bin/env python3
"""README.md's "Embedding a pipeline in a C program", word for word: its
app.c block is written to a file and its sh block is run line by line in a
fresh directory that looks like the top of the source tree (build/ and
examples/ are links), with the install prefix /opt/convc moved to a
directory of the test.  The program must run without LD_LIBRARY_PATH and
write the edges `convc run` writes, which must be the Sobel magnitude of
NumPy's reference (within one 8-bit step, for rounding).
usage: readme_embed.py SOURCE_DIR BUILD_DIR WORK_DIR"""
import os, re, shutil, subprocess, sys

import numpy as np
from PIL import Image

src, build, work = (os.path.abspath(a) for a in sys.argv[1:4])
text = open(os.path.join(src, "README.md")).read()
section = text[text.index("### Embedding a pipeline in a C program"):]
section = section[:section.index("\n### ", 10)]
app_c = re.search(r"```c\n(.*?)```", section, re.S).group(1)
commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
assert "int main(" in app_c and "./app " in commands, section

shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
os.symlink(build, os.path.join(work, "build"))
os.symlink(os.path.join(src, "examples"), os.path.join(work, "examples"))
with open(os.path.join(work, "app.c"), "w") as f:
    f.write(app_c)
prefix = os.path.join(work, "opt-convc")
script = commands.replace("/opt/convc", prefix)
env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR")}
p = subprocess.run(["sh", "-e", "-x", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300)
if p.returncode != 0:
    sys.exit(f"FAIL: the README's commands failed:\n{p.stderr}")

# what was built is what the README says: app uses the installed library
ldd = subprocess.run(["ldd", os.path.join(work, "app")], env=env, capture_output=True, text=True).stdout
m = re.search(r"libconvrt\.so\.0 => (\S+)", ldd)
if not m or not os.path.realpath(m.group(1)).startswith(os.path.realpath(prefix)):
    sys.exit(f"FAIL: app does not load libconvrt from {prefix}:\n{ldd}")

got = np.asarray(Image.open(os.path.join(work, "edges.png")), dtype=np.int64)
q = subprocess.run([os.path.join(build, "convc"), "run", "examples/sobel_edges.conv",
                    "img=examples/data/ascent.pgm", "-o", "mag=run.png", "-q"], cwd=work, capture_output=True,
                   text=True)
if q.returncode != 0:
    sys.exit(f"FAIL: convc run: {q.stderr}")
ran = np.asarray(Image.open(os.path.join(work, "run.png")), dtype=np.int64)
if not np.array_equal(got, ran):
    sys.exit("FAIL: app's edges.png differs from convc run's")

x = np.asarray(Image.open(os.path.join(src, "examples", "data", "ascent.pgm")), dtype=np.float64) / 255.0
xp = np.pad(x, 1, mode="edge")
kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
h, w = x.shape
gx = sum(kx[i, j] * xp[i:i + h, j:j + w] for i in range(3) for j in range(3))
gy = sum(kx[j, i] * xp[i:i + h, j:j + w] for i in range(3) for j in range(3))
ref = np.round(np.clip(np.sqrt(gx * gx + gy * gy), 0, 1) * 255)
diff = np.abs(got - ref)
if got.shape != ref.shape or diff.max() > 1 or (diff > 0).mean() > 0.01:
    sys.exit(f"FAIL: edges.png is not the Sobel magnitude: shape {got.shape}, max diff {diff.max()}")
print(f"ok: README embedding recipe, {got.shape[1]}x{got.shape[0]} edges as NumPy computes them")
