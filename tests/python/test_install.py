#!/usr/bin/env python3
"""`cmake --install` puts the module where the system's python3 finds it:
installed into an empty prefix, it imports and runs from there alone, and
the same place under /usr/local or /usr is on the interpreter's path.
usage: test_install.py CONVC BUILD_DIR PYTHON_DIR"""
import os, site, subprocess, sys, tempfile

BUILD, RELDIR = sys.argv[2:4]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

CHECK = """
import os, sys
import numpy as np
import convc
assert os.path.dirname(convc.__file__) == sys.argv[1], convc.__file__
p = convc.compile(sys.argv[2])
x = np.arange(12, dtype=np.float32).reshape(3, 4)
mag = p(img=x)["mag"]
# a ramp 4 per row, 1 per column: Sobel's sums of differences, halved at
# the replicated edges
want = np.hypot(np.array([[4, 8, 8, 4]] * 3, np.float32), np.array([[16] * 4, [32] * 4, [16] * 4], np.float32))
assert np.allclose(mag, want), mag
print("ok")
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "prefix")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True, capture_output=True)
        where = os.path.join(prefix, RELDIR)
        mods = [f for f in os.listdir(where) if f.startswith("convc.") and f.endswith(".so")]
        assert len(mods) == 1, os.listdir(where)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = where
        p = subprocess.run([sys.executable, "-c", CHECK, where, os.path.join(ROOT, "examples", "sobel_edges.conv")],
                           cwd=tmp, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
    # the default prefix and /usr: the interpreter's own module directories
    dirs = [os.path.normpath(d) for d in site.getsitepackages()]
    for pre in ("/usr/local", "/usr"):
        assert os.path.join(pre, RELDIR) in dirs, (pre, RELDIR, dirs)
    print("ok   install into a prefix, import from it; /usr/local and /usr are on the path")


if __name__ == "__main__":
    main()
