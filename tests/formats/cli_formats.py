"""`convc run` with the file formats: sound (rates kept, derived through the
stage graph, overridden, conflicting; channels; clipping), NumPy inputs of
other dtypes and .npz archives, float64 outputs, one output written to
several files, and image levels (clamped with a warning, :auto, :16).
Every value is checked against NumPy, soundfile or Pillow.

usage: cli_formats.py CONVC [TEST ...]"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
from PIL import Image

CONVC = os.path.abspath(sys.argv[1])

SCRIPTS = {
    "gain.conv": """# a gain on sound of any length
pipeline gain {
  input x: f32[L]
  output y = x * 4.0
}
""",
    "mix.conv": """# two sounds added; a kernel scaled on its own
pipeline mix {
  input a: f32[L]
  input b: f32[L]
  input k: f32[N]
  output s = a + b
  output fromk = k * 0.5
  output froma = conv1d(a, k, pad=same)
}
""",
    "stereo.conv": """# several channels: each filtered on its own
pipeline stereo {
  input x: f32[C, L]
  output y = conv1d(x, [0.25, 0.5, 0.25], pad=same)
}
""",
    "gx.conv": """# a signed result: the horizontal Sobel derivative
pipeline gx {
  input img: f32[H, W]
  output gx = conv2d(img, sobel_x, pad=same, pad_mode=replicate)
}
""",
    "ident.conv": """# any 2-D array, doubled
pipeline ident {
  input x: f32[A, B]
  output y = x * 2.0
}
""",
}


def convc(tmp, *args):
    return subprocess.run([CONVC, "run", *args], cwd=tmp, capture_output=True, text=True, timeout=120)


def tone(n, rate, channels=1, peak=0.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = np.stack([np.sin(2 * np.pi * (300 + 100 * c) * t) * peak + rng.uniform(-0.05, 0.05, n)
                  for c in range(channels)])
    return (x[0] if channels == 1 else x).astype(np.float32)


def write_sound(tmp, name, x, rate, subtype="PCM_16"):
    sf.write(os.path.join(tmp, name), x.T if x.ndim == 2 else x, rate, subtype=subtype)
    data, _ = sf.read(os.path.join(tmp, name), dtype="float32", always_2d=True)
    return data[:, 0] if x.ndim == 1 else data.T      # what convc reads


def read_sound(tmp, name):
    data, rate = sf.read(os.path.join(tmp, name), dtype="float32", always_2d=True)
    return (data[:, 0] if data.shape[1] == 1 else data.T), rate


def listing(tmp):
    return sorted(os.listdir(tmp))


def expect_fail(p, *frags):
    assert p.returncode == 1, (p.returncode, p.stderr)
    for f in frags:
        assert f in p.stderr, (f, p.stderr)


# ---- sound -----------------------------------------------------------------------

def test_output_keeps_the_input_rate_and_rate_overrides(tmp):
    x = write_sound(tmp, "in.wav", tone(3000, 16000), 16000)
    p = convc(tmp, "gain.conv", "x=in.wav", "-o", "y=out.wav")
    assert p.returncode == 0, p.stderr
    y, rate = read_sound(tmp, "out.wav")
    assert rate == 16000 and sf.info(os.path.join(tmp, "out.wav")).subtype == "FLOAT"
    assert np.array_equal(y, x * np.float32(4.0)), "float WAV keeps values beyond [-1, 1]"
    assert "warning" not in p.stderr, p.stderr
    p = convc(tmp, "gain.conv", "x=in.wav", "-o", "y=out.wav", "--rate", "8000")
    assert p.returncode == 0, p.stderr
    assert read_sound(tmp, "out.wav")[1] == 8000


def test_rate_follows_the_stage_graph(tmp):
    a = write_sound(tmp, "a.wav", tone(2000, 22050), 22050)
    b = write_sound(tmp, "b.flac", tone(2000, 22050, seed=1), 22050)
    np.save(os.path.join(tmp, "k.npy"), np.array([0.2, 0.5, 0.3], np.float32))
    # s comes from two sounds of one rate; froma from a and the kernel
    p = convc(tmp, "mix.conv", "a=a.wav", "b=b.flac", "k=k.npy", "-o", "s=s.wav", "-o", "froma=fa.flac")
    assert p.returncode == 0, p.stderr
    s, rate = read_sound(tmp, "s.wav")
    assert rate == 22050 and np.array_equal(s, a + b)
    assert read_sound(tmp, "fa.flac")[1] == 22050
    # fromk comes from the kernel alone: no rate to keep
    p = convc(tmp, "mix.conv", "a=a.wav", "b=b.flac", "k=k.npy", "-o", "fromk=fk.wav")
    expect_fail(p, "output 'fromk' ('fk.wav')", "no audio input leads to it", "--rate")
    assert "fk.wav" not in listing(tmp)
    p = convc(tmp, "mix.conv", "a=a.wav", "b=b.flac", "k=k.npy", "-o", "fromk=fk.wav", "--rate=1000")
    assert p.returncode == 0 and read_sound(tmp, "fk.wav")[1] == 1000, p.stderr


def test_different_input_rates_need_rate(tmp):
    write_sound(tmp, "a.wav", tone(2000, 22050), 22050)
    write_sound(tmp, "b.wav", tone(2000, 44100), 44100)
    np.save(os.path.join(tmp, "k.npy"), np.ones(3, np.float32))
    p = convc(tmp, "mix.conv", "a=a.wav", "b=b.wav", "k=k.npy", "-o", "s=s.wav", "-o", "s=s.npy")
    expect_fail(p, "'a' (22050 Hz)", "'b' (44100 Hz)", "--rate")
    assert "s.wav" not in listing(tmp) and "s.npy" not in listing(tmp), "all or nothing"
    p = convc(tmp, "mix.conv", "a=a.wav", "b=b.wav", "k=k.npy", "-o", "s=s.wav", "--rate", "32000")
    assert p.returncode == 0 and read_sound(tmp, "s.wav")[1] == 32000, p.stderr


def test_channels(tmp):
    x = write_sound(tmp, "st.flac", tone(1500, 8000, channels=2), 8000, subtype="PCM_24")
    p = convc(tmp, "stereo.conv", "x=st.flac", "-o", "y=y.wav", "-o", "y=y.npy")
    assert p.returncode == 0, p.stderr
    y, rate = read_sound(tmp, "y.wav")
    assert y.shape == (2, 1500) and rate == 8000
    ref = np.stack([np.convolve(c.astype(np.float64), [0.25, 0.5, 0.25], mode="same") for c in x])
    assert np.allclose(y, ref, atol=1e-6) and np.array_equal(y, np.load(os.path.join(tmp, "y.npy")))
    # mono where the script wants [C, L]: the rank is wrong, said with what the file was read as
    write_sound(tmp, "mono.wav", tone(100, 8000), 8000)
    p = convc(tmp, "stereo.conv", "x=mono.wav", "-o", "y=y2.wav")
    expect_fail(p, "mono sound f32[100]")


def test_clipping_is_counted(tmp):
    x = write_sound(tmp, "in.wav", tone(4000, 16000, peak=0.4), 16000)
    y = x * np.float32(4.0)
    outside = int(np.sum(np.abs(y) > 1))
    assert outside > 0
    p = convc(tmp, "gain.conv", "x=in.wav", "-o", "y=y.flac", "-o", "y=y16.wav:16", "-o", "y=yf.wav")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("warning") == 2, p.stderr
    assert f"{outside} of {y.size} samples" in p.stderr and "'y.flac'" in p.stderr and "'y16.wav'" in p.stderr
    got, _ = read_sound(tmp, "y16.wav")
    assert np.max(np.abs(got)) <= 1.0 and sf.info(os.path.join(tmp, "y16.wav")).subtype == "PCM_16"
    assert np.array_equal(read_sound(tmp, "yf.wav")[0], y)


def test_bad_sound_files(tmp):
    sf.write(os.path.join(tmp, "good.wav"), tone(4000, 8000), 8000, subtype="PCM_16")
    blob = open(os.path.join(tmp, "good.wav"), "rb").read()
    with open(os.path.join(tmp, "cut.wav"), "wb") as f:
        f.write(blob[:3000])
    with open(os.path.join(tmp, "text.flac"), "w") as f:
        f.write("not sound\n" * 50)
    for name, frag in (("cut.wav", "truncated"), ("text.flac", "not a sound file")):
        p = convc(tmp, "gain.conv", f"x={name}", "-o", "y=y.wav")
        expect_fail(p, f"'{name}'", frag)
        assert "y.wav" not in listing(tmp)


def test_output_options_that_do_not_fit_the_format(tmp):
    write_sound(tmp, "in.wav", tone(100, 8000), 8000)
    for spec, frag in (("y=y.wav:auto", "rescaling is for images"), ("y=y.ogg:16", "Vorbis"),
                       ("y=y.flac:32", "16 (the default) or 24"), ("y=y.npy:16", "32-bit or 64-bit"),
                       ("y=y.wav:loud", "unknown option 'loud'")):
        p = convc(tmp, "gain.conv", "x=in.wav", "-o", spec)
        expect_fail(p, frag)
        assert not [n for n in listing(tmp) if n.startswith("y")], listing(tmp)
    # a ':' inside a name that has an extension after it is part of the name
    p = convc(tmp, "gain.conv", "x=in.wav", "-o", "y=a:16.npy")
    assert p.returncode == 0 and "a:16.npy" in listing(tmp), p.stderr
    p = convc(tmp, "gain.conv", "x=in.wav", "-o", "y=a.npy", "--rate", "100")
    assert p.returncode == 0 and "--rate 100 is not used" in p.stderr, p.stderr


# ---- NumPy -----------------------------------------------------------------------

def test_other_dtypes_orders_and_float64_out(tmp):
    a = np.arange(-6, 6, dtype=">i2").reshape(3, 4)
    np.save(os.path.join(tmp, "a.npy"), np.asfortranarray(a))
    p = convc(tmp, "ident.conv", "x=a.npy", "-o", "y=y.npy", "-o", "y=y64.npy:f64")
    assert p.returncode == 0 and not p.stderr, p.stderr
    assert np.array_equal(np.load(os.path.join(tmp, "y.npy")), a.astype(np.float32) * 2)
    y64 = np.load(os.path.join(tmp, "y64.npy"))
    assert y64.dtype == np.float64 and np.array_equal(y64, a * 2.0)
    # float64 in: rounded to float32, said once; --out-dtype=f64 for every .npy
    d = np.array([[0.1, 0.25], [1e-3, 2.0]])
    np.save(os.path.join(tmp, "d.npy"), d)
    p = convc(tmp, "ident.conv", "x=d.npy", "-o", "y=y.npy", "--out-dtype=f64")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("warning") == 1 and "2 of 4 values of dtype '<f8'" in p.stderr, p.stderr
    y = np.load(os.path.join(tmp, "y.npy"))
    assert y.dtype == np.float64 and np.array_equal(y, (d.astype(np.float32) * 2).astype(np.float64))


def test_npz_by_key(tmp):
    w = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.savez_compressed(os.path.join(tmp, "arch.npz"), weights=w, other=np.zeros(3))
    p = convc(tmp, "ident.conv", "x=arch.npz:weights", "-o", "y=y.npy")
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(os.path.join(tmp, "y.npy")), w * 2.0)
    p = convc(tmp, "ident.conv", "x=arch.npz:weight", "-o", "y=z.npy")
    expect_fail(p, "no array 'weight'", "'weights'", "'other'")
    assert "z.npy" not in listing(tmp)
    p = convc(tmp, "ident.conv", "x=arch.npz:weights", "-o", "y=arch.npz")
    expect_fail(p, "would overwrite input 'x' ('arch.npz')")


# ---- several files, image levels -----------------------------------------------

def gradient_image(tmp):
    yy, xx = np.mgrid[0:40, 0:50]
    img = ((np.sin(xx / 5.0) + np.cos(yy / 7.0)) * 60 + 128).clip(0, 255).astype(np.uint8)
    Image.fromarray(img).save(os.path.join(tmp, "img.png"))
    return img.astype(np.float64) / 255.0


def sobel_x(img):
    pad = np.pad(img, 1, mode="edge")
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
    return sum(k[u, v] * pad[u:u + img.shape[0], v:v + img.shape[1]] for u in range(3) for v in range(3))


def test_one_output_several_files(tmp):
    gradient_image(tmp)
    p = convc(tmp, "gx.conv", "img=img.png", "-o", "gx=gx.npy", "-o", "gx=gx.png:auto", "-o", "gx=gx16.png:16",
              "-o", "gx=gx.png16.pgm:auto,16")
    assert p.returncode == 0, p.stderr
    for f in ("gx.npy", "gx.png", "gx16.png", "gx.png16.pgm"):
        assert f in listing(tmp), listing(tmp)
    # the same file twice: refused before anything runs, however spelled
    os.mkdir(os.path.join(tmp, "d"))
    p = convc(tmp, "gx.conv", "img=img.png", "-o", "gx=same.npy", "-o", "gx=d/../same.npy")
    expect_fail(p, "are the same file")
    assert "same.npy" not in listing(tmp)
    # all or nothing: a later spec refused leaves the earlier file as it was
    before = open(os.path.join(tmp, "gx.npy"), "rb").read()
    p = convc(tmp, "gx.conv", "img=img.png", "-o", "gx=gx.npy", "-o", "gx=gx.ppm:24")
    expect_fail(p, "8 or 16")
    assert open(os.path.join(tmp, "gx.npy"), "rb").read() == before


def test_image_levels(tmp):
    img = gradient_image(tmp)
    p = convc(tmp, "gx.conv", "img=img.png", "-o", "gx=gx.npy", "-o", "gx=clamp.png", "-o", "gx=auto.png:auto",
              "-o", "gx=c16.png:16", "-o", "gx=a16.pgm:auto,16")
    assert p.returncode == 0, p.stderr
    g = np.load(os.path.join(tmp, "gx.npy")).astype(np.float64)
    assert np.allclose(g, sobel_x(img), atol=1e-5)
    # default: clamped to [0, 1], with the share that clamping changed
    clipped = int(np.sum((g * 255 < -0.5) | (g * 255 >= 255.5)))
    assert clipped > 0
    assert f"'clamp.png': {clipped} of {g.size} values ({100.0 * clipped / g.size:.3g}%)" in p.stderr, p.stderr
    assert "c16.png" in p.stderr and ":auto rescales" in p.stderr
    assert "auto.png'" not in p.stderr and "a16.pgm'" not in p.stderr, "rescaled outputs clip nothing"

    def check(name, mode, want):
        im = Image.open(os.path.join(tmp, name))
        got = np.array(im).astype(np.int64)
        assert im.mode == mode, (name, im.mode)
        assert np.array_equal(got, want.astype(np.int64)), (name, np.abs(got - want).max())

    unit = (g - g.min()) / (g.max() - g.min())
    check("clamp.png", "L", np.floor(np.clip(g, 0, 1) * 255 + 0.5))
    check("auto.png", "L", np.floor(unit * 255 + 0.5))
    check("c16.png", "I;16" if Image.open(os.path.join(tmp, "c16.png")).mode == "I;16" else "I",
          np.floor(np.clip(g, 0, 1) * 65535 + 0.5))
    check("a16.pgm", "I;16" if Image.open(os.path.join(tmp, "a16.pgm")).mode == "I;16" else "I",
          np.floor(unit * 65535 + 0.5))
    assert Image.open(os.path.join(tmp, "auto.png")).getextrema() == (0, 255)


def main():
    tests = {n: f for n, f in globals().items() if n.startswith("test_")}
    names = sys.argv[2:] or sorted(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            for fname, text in SCRIPTS.items():
                with open(os.path.join(tmp, fname), "w") as f:
                    f.write(text)
            try:
                tests[name](tmp)
                leftovers = [n for n in os.listdir(tmp) if n.startswith(".convrt-")]
                assert not leftovers, f"temporary files left: {leftovers}"
                print(f"ok   {name}")
            except Exception as e:      # an assertion, or a file that is not there
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"{len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
