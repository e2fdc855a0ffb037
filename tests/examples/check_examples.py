#!/usr/bin/env python3
"""Run one example through convc and compare it with an independent reference.

usage: check_examples.py CONVC EXAMPLE [--examples DIR]
       check_examples.py --list [--examples DIR]

For EXAMPLE (the name of examples/EXAMPLE.conv) this
  1. runs `convc check EXAMPLE.conv` and expects exit 0 and a report on stdout;
  2. runs `convc run EXAMPLE.conv NAME=FILE ... -o NAME=OUT.npy ...` on the
     example's data and compares every output, in shape and value, with a
     reference computed here with NumPy/SciPy in float64;
  3. for examples with image outputs, runs again with `-o NAME=OUT.png` and
     compares the decoded 8-bit PNG with round(clip(reference, 0, 1) * 255);
  4. for examples with sound outputs, runs again with `-o NAME=OUT.wav` and
     reads it with soundfile: the .npy values exactly (32-bit float WAV),
     at the sample rate of the sound input.
Every example in examples/ must have an entry in EXAMPLES below.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np
import scipy.ndimage as ndi
import scipy.signal as sig

RTOL = 1e-4          # same rule as the conformance runner
TIMEOUT = 120        # seconds per convc invocation


# ---------------------------------------------------------------- file formats
def read_pnm(path):
    """8-bit binary PGM (P5) -> [H, W], PPM (P6) -> [3, H, W]; scaled to [0, 1]."""
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 2
    magic = data[:2]
    if magic not in (b"P5", b"P6"):
        raise ValueError(f"{path}: not a binary PGM/PPM")
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        m = re.match(rb"\d+", data[pos:])
        fields.append(int(m.group()))
        pos += len(m.group())
    pos += 1                               # the single whitespace after maxval
    w, h, maxval = fields
    if maxval != 255:
        raise ValueError(f"{path}: maxval {maxval}, only 255 is read here")
    ch = 1 if magic == b"P5" else 3
    a = np.frombuffer(data, np.uint8, count=w * h * ch, offset=pos).astype(np.float64) / 255.0
    if ch == 1:
        return a.reshape(h, w)
    return a.reshape(h, w, 3).transpose(2, 0, 1).copy()


def read_png(path):
    """8-bit non-interlaced gray or RGB PNG -> uint8 [H, W] or [3, H, W]."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file (bad signature)")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (0, 2) or interlace:
        raise ValueError(f"PNG depth {depth} colour type {ctype} interlace {interlace}: "
                         "expected 8-bit gray (0) or RGB (2), not interlaced")
    bpp = 1 if ctype == 0 else 3
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        raise ValueError(f"PNG data is {len(raw)} bytes, expected {h * (stride + 1)}")
    out = np.zeros((h, stride), np.uint8)
    prev = bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 255
        elif ft == 2:
            row = bytearray((np.frombuffer(row, np.uint8) + np.frombuffer(prev, np.uint8)).tobytes())
        elif ft == 3:
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((a + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                row[i] = (row[i] + pr) & 255
        elif ft != 0:
            raise ValueError(f"PNG row {y}: unknown filter type {ft}")
        out[y] = np.frombuffer(bytes(row), np.uint8)
        prev = row
    if bpp == 1:
        return out
    return out.reshape(h, w, 3).transpose(2, 0, 1)


def load_input(path):
    if path.endswith(".npy"):
        return np.load(path).astype(np.float64)
    if path.endswith((".wav", ".flac")):
        import soundfile
        data, _ = soundfile.read(path, dtype="float32", always_2d=True)
        data = data[:, 0] if data.shape[1] == 1 else data.T
        return data.astype(np.float64)
    return read_pnm(path)


# ----------------------------------------------------------------- references
def conv2d_ref(x, w, b=None, stride=1, pad=0, dilation=1):
    """torch.nn.functional.conv2d on [C, H, W] with [K, C, FH, FW], as a numpy loop
    over the filter taps."""
    C, H, W = x.shape
    K, C2, FH, FW = w.shape
    assert C == C2
    s, p, d = stride, pad, dilation
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    Ho = (H + 2 * p - d * (FH - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (FW - 1) - 1) // s + 1
    out = np.zeros((K, Ho, Wo))
    for u in range(FH):
        for v in range(FW):
            patch = xp[:, u * d:u * d + s * (Ho - 1) + 1:s, v * d:v * d + s * (Wo - 1) + 1:s]
            out += np.tensordot(w[:, :, u, v], patch, axes=([1], [0]))
    if b is not None:
        out += b[:, None, None]
    return out


def maxpool2d_ref(x, k):
    """non-overlapping k x k max-pool (stride k, no padding, floor) on [.., H, W]"""
    H, W = x.shape[-2:]
    Ho, Wo = H // k, W // k
    x = x[..., :Ho * k, :Wo * k]
    return x.reshape(x.shape[:-2] + (Ho, k, Wo, k)).max(axis=(-3, -1))


def gaussian1d(n, sigma):
    t = np.arange(n) - (n - 1) / 2.0
    g = np.exp(-t * t / (2.0 * sigma * sigma))
    return g / g.sum()


SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)


def ref_cs231n(i):
    return {"y": conv2d_ref(i["x"], i["w"], i["b"], stride=2, pad=1)}


def ref_conv_then_pool(i):
    k = np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]], np.float64)
    c = sig.correlate2d(i["x"], k, mode="valid")            # 9x9
    assert c.shape == (9, 9)
    return {"y": maxpool2d_ref(c, 3)}


def ref_pointwise(i):
    return {"y": np.einsum("kc,chw->khw", i["w"], i["x"]) + i["b"][:, None, None]}


def ref_dilated(i):
    # dilation 2: the 3x3 taps spread over a 5x5 kernel with zeros in between
    k5 = np.zeros((5, 5))
    k5[::2, ::2] = i["w"][0, 0]
    return {"y": sig.correlate2d(i["x"][0], k5, mode="valid")[None]}


def ref_by_hand(i):
    w = np.array([1, -1, 2], np.float64)
    got = {m: sig.convolve(i["x"], w, mode=m, method="direct") for m in ("full", "same", "valid")}
    # the values worked out by hand
    hand = {"full": [0, 1, 1, 3, 5, 2, 8], "same": [1, 1, 3, 5, 2], "valid": [1, 3, 5]}
    for m in hand:
        assert np.array_equal(got[m], hand[m]), (m, got[m])
    return got


def ref_dropped_ball(i):
    return {"p": np.convolve(i["f"], i["g"], mode="full")}


def ref_ecg(i):
    c = sig.savgol_coeffs(31, 3)
    return {"y": sig.convolve(i["s"], c, mode="same", method="direct")}


def ref_sobel(i):
    gx = ndi.correlate(i["img"], SOBEL_X, mode="nearest")      # replicate padding
    gy = ndi.correlate(i["img"], SOBEL_X.T, mode="nearest")
    return {"mag": np.sqrt(gx * gx + gy * gy)}


def ref_cnn_block(i):
    h = np.maximum(conv2d_ref(i["x"], i["w1"], i["b1"], pad=1), 0.0)
    h = maxpool2d_ref(h, 2)
    return {"y": np.einsum("kc,chw->khw", i["w2"], h)}


def ref_face_blur(i):
    k = np.outer(gaussian1d(7, 2.0), gaussian1d(7, 2.0))
    # PyTorch's 'reflect' (d c b | a b c d | c b a) is ndimage's 'mirror'
    return {"out": np.stack([ndi.correlate(c, k, mode="mirror") for c in i["img"]])}


def ref_reverb(i):
    # SciPy's FFT convolution in float64 (pocketfft; the example uses kissfft)
    return {"wet": sig.fftconvolve(i["speech"], i["room"], mode="full")}


def ref_echo(i):
    x, d = i["x"], 6615
    y = np.zeros(len(x) + 2 * d)
    y[:len(x)] += x
    y[d:d + len(x)] += 0.6 * x
    y[2 * d:] += 0.36 * x
    return {"y": 0.6 * y}


def within_unit(name):
    def check(outs):
        peak = float(np.max(np.abs(outs[name])))
        return None if peak <= 1.0 else f"output {name} peaks at {peak}, so a 16-bit file would clip"
    return check


def sums_to_one(outs):
    total = float(np.sum(outs["p"], dtype=np.float64))
    if abs(total - 1.0) > 1e-5:
        return f"output p sums to {total!r}, expected 1"
    return None


# name -> inputs (relative to examples/), reference, image outputs, extra checks
EXAMPLES = {
    "cs231n_conv": dict(inputs={"x": "data/cs231n_x.npy", "w": "data/cs231n_w.npy",
                                "b": "data/cs231n_b.npy"},
                        ref=ref_cs231n, shapes={"y": (2, 3, 3)}),
    "conv_then_pool": dict(inputs={"x": "data/pool_x.npy"}, ref=ref_conv_then_pool,
                           shapes={"y": (3, 3)}),
    "pointwise_192_to_32": dict(inputs={"x": "data/pointwise_x.npy", "w": "data/pointwise_w.npy",
                                        "b": "data/pointwise_b.npy"},
                                ref=ref_pointwise, shapes={"y": (32, 28, 28)}),
    "dilated": dict(inputs={"x": "data/dilated_x.npy", "w": "data/dilated_w.npy"},
                    ref=ref_dilated, shapes={"y": (1, 11, 11)}),
    "by_hand_1d": dict(inputs={"x": "data/by_hand_x.npy"}, ref=ref_by_hand,
                       shapes={"full": (7,), "same": (5,), "valid": (3,)}),
    "dropped_ball": dict(inputs={"f": "data/ball_f.npy", "g": "data/ball_g.npy"},
                         ref=ref_dropped_ball, shapes={"p": (19,)}, extra=sums_to_one,
                         check_args=["N=12", "M=8"]),
    "ecg_savgol": dict(inputs={"s": "data/ecg.npy"}, ref=ref_ecg, shapes={"y": (108000,)},
                       check_args=["N=108000"]),
    "sobel_edges": dict(inputs={"img": "data/ascent.pgm"}, ref=ref_sobel,
                        shapes={"mag": (512, 512)}, images=["mag"],
                        check_args=["H=512", "W=512"]),
    "cnn_block": dict(inputs={"x": "data/cnn_x.npy", "w1": "data/cnn_w1.npy",
                              "b1": "data/cnn_b1.npy", "w2": "data/cnn_w2.npy"},
                      ref=ref_cnn_block, shapes={"y": (4, 16, 16)}),
    "face_blur": dict(inputs={"img": "data/face.ppm"}, ref=ref_face_blur,
                      shapes={"out": (3, 768, 1024)}, images=["out"]),
    "reverb": dict(inputs={"speech": "data/speech.wav", "room": "data/room_ir.flac"}, ref=ref_reverb,
                   shapes={"wet": (200490 + 26461 - 1,)}, sounds={"wet": 22050}, extra=within_unit("wet"),
                   check_args=["L=200490", "M=26461"]),
    "echo": dict(inputs={"x": "data/speech.wav"}, ref=ref_echo, shapes={"y": (200490 + 13230,)},
                 sounds={"y": 22050}, extra=within_unit("y"), check_args=["L=200490"]),
}


# ---------------------------------------------------------------------- runner
def run(cmd, cwd):
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {TIMEOUT} s", TIMEOUT
    except OSError as e:
        return None, "", f"could not start: {e}", 0.0
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def describe(cmd, rc, err):
    tail = "\n    ".join(err.strip().splitlines()[-8:])
    return f"$ {' '.join(cmd)}\n  exit {rc}\n    {tail}"


def compare(name, got, exp):
    if tuple(got.shape) != tuple(exp.shape):
        return f"output {name}: shape {list(got.shape)}, expected {list(exp.shape)}"
    got = got.astype(np.float64)
    scale = max(1.0, float(np.max(np.abs(exp))) if exp.size else 1.0)
    bad = ~(np.abs(got - exp) <= RTOL * scale + RTOL * np.abs(exp))   # NaN counts as bad
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), exp.shape)
        return (f"output {name}: {int(bad.sum())} of {exp.size} values differ; first at "
                f"{list(map(int, idx))}: got {got[idx]!r}, expected {exp[idx]!r} "
                f"(max abs error {float(np.nanmax(np.abs(got - exp))):.3g})")
    return None


def check_example(convc, exdir, name):
    spec = EXAMPLES.get(name)
    if spec is None:
        return [f"examples/{name}.conv has no reference in tests/examples/check_examples.py"]
    script = f"{name}.conv"
    if not os.path.exists(os.path.join(exdir, script)):
        return [f"{os.path.join(exdir, script)} does not exist"]
    with open(os.path.join(exdir, script)) as f:
        first = f.readline()
    problems = []
    if not first.startswith("#"):
        problems.append(f"{script}: the first line should be a '#' comment saying what it shows")

    # 1. convc check (and again with the size symbols bound, where there are some)
    check_runs = [[]] + ([spec["check_args"]] if spec.get("check_args") else [])
    for extra in check_runs:
        cmd = [convc, "check", script] + extra
        rc, out, err, _ = run(cmd, exdir)
        if rc != 0:
            problems.append("convc check failed:\n" + describe(cmd, rc, err))
        elif not out.strip():
            problems.append(f"$ {' '.join(cmd)}: exit 0 but printed no report on stdout")

    # 2. convc run -> .npy, against the reference
    inputs = {k: load_input(os.path.join(exdir, v)) for k, v in spec["inputs"].items()}
    ref = spec["ref"](inputs)
    for o, shape in spec.get("shapes", {}).items():
        assert ref[o].shape == shape, (o, ref[o].shape, shape)
    in_args = [f"{k}={v}" for k, v in spec["inputs"].items()]
    with tempfile.TemporaryDirectory(prefix="convc-example-") as tmp:
        outs = {o: os.path.join(tmp, f"{o}.npy") for o in ref}
        cmd = [convc, "run", script] + in_args
        for o, p in outs.items():
            cmd += ["-o", f"{o}={p}"]
        rc, _, err, secs = run(cmd, exdir)
        if rc != 0:
            problems.append("convc run failed:\n" + describe(cmd, rc, err))
            return problems
        got = {}
        for o, p in outs.items():
            if not os.path.exists(p):
                problems.append(f"output {o} was not written ({p})")
                continue
            got[o] = np.load(p)
            if got[o].dtype != np.float32:
                problems.append(f"output {o}: dtype {got[o].dtype}, expected float32")
            why = compare(o, got[o], ref[o])
            if why:
                problems.append(why)
        if not problems and spec.get("extra"):
            why = spec["extra"](got)
            if why:
                problems.append(why)
        print(f"{name}: run {secs:.3f} s, outputs " +
              ", ".join(f"{o} {list(ref[o].shape)}" for o in ref))

        # 3. image outputs: 8-bit PNG = round(clip(value, 0, 1) * 255)
        for o in spec.get("images", []):
            png = os.path.join(tmp, f"{o}.png")
            cmd = [convc, "run", script] + in_args + ["-o", f"{o}={png}"]
            rc, _, err, _ = run(cmd, exdir)
            if rc != 0:
                problems.append("convc run with a PNG output failed:\n" + describe(cmd, rc, err))
                continue
            try:
                img = read_png(png)
            except (OSError, ValueError, zlib.error) as e:
                problems.append(f"output {o}.png: {e}")
                continue
            want = np.round(np.clip(ref[o], 0.0, 1.0) * 255.0)
            if img.shape != want.shape:
                problems.append(f"output {o}.png: shape {list(img.shape)}, expected {list(want.shape)}")
                continue
            diff = np.abs(img.astype(np.int64) - want.astype(np.int64))
            if diff.max() > 1:
                idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
                problems.append(f"output {o}.png: {int((diff > 1).sum())} pixels differ by more "
                                f"than 1 from round(clip(ref, 0, 1) * 255); first at "
                                f"{list(map(int, idx))}: got {int(img[idx])}, expected {int(want[idx])}")
        # 4. sound outputs: 32-bit float WAV at the input's rate, the same values
        for o, rate in spec.get("sounds", {}).items():
            import soundfile
            wav = os.path.join(tmp, f"{o}.wav")
            cmd = [convc, "run", script] + in_args + ["-o", f"{o}={wav}"]
            rc, _, err, _ = run(cmd, exdir)
            if rc != 0:
                problems.append("convc run with a WAV output failed:\n" + describe(cmd, rc, err))
                continue
            info = soundfile.info(wav)
            data, _ = soundfile.read(wav, dtype="float32", always_2d=True)
            data = data[:, 0] if data.shape[1] == 1 else data.T
            if info.samplerate != rate or info.subtype != "FLOAT":
                problems.append(f"output {o}.wav: {info.samplerate} Hz {info.subtype}, expected {rate} Hz FLOAT")
            elif o in got and not np.array_equal(data, got[o]):
                problems.append(f"output {o}.wav: samples differ from the .npy output")
    return problems


def main():
    argv = sys.argv[1:]
    exdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
    if "--examples" in argv:
        i = argv.index("--examples"); exdir = argv[i + 1]; del argv[i:i + 2]
    exdir = os.path.abspath(exdir)
    if argv == ["--list"]:
        for f in sorted(os.listdir(exdir)):
            if f.endswith(".conv"):
                print(f[:-5])
        return 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    convc, name = os.path.abspath(argv[0]), argv[1]
    problems = check_example(convc, exdir, name)
    for p in problems:
        print(f"FAIL {name}: {p}")
    if not problems:
        print(f"ok   {name}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
