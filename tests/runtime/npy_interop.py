"""Cross-check the runtime's .npy/.npz readers and .npy writer against numpy.

Usage: npy_interop.py PATH/TO/npy_interop_tool
Every case runs the C tool; any mismatch makes the script exit non-zero.
Every real dtype numpy has (bool, int8..int64, uint8..uint64, float16..
float64), in both byte orders and both memory orders, must load as
numpy's astype(float32), bit for bit, with one precision warning exactly
when some value changed."""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

np.seterr(all="ignore")    # float64 beyond float32 overflows on purpose
from numpy.lib import format as npformat

tool = sys.argv[1]
failures = 0


def run(*args, expect_ok=True):
    global failures
    r = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    if (r.returncode == 0) != expect_ok:
        failures += 1
        print(f"FAIL: {' '.join(map(str, args))} -> {r.returncode}: {r.stderr.strip()}")


def ramp(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n, dtype=np.float64) * 0.25 - 1.0).astype(dtype).reshape(shape)


def values(dtype, n, rng):
    """n values of dtype that reach its edges: extremes, zero, -1, 2^24 + 1
    and neighbours (where float32 starts to round), NaN, infinities, -0.0,
    subnormals, beyond float32's range."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        special = [True, False]
        rand = rng.integers(0, 2, n).astype(bool)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        special = [info.min, info.max, 0, 1, info.max - 1, info.min + 1]
        special += [v for v in (-1, 2**24, 2**24 + 1, 2**24 + 3, -(2**24 + 1), 2**53 + 1, 2**63 - 2**39)
                    if info.min <= v <= info.max]
        rand = rng.integers(info.min, info.max, n, dtype=dt.newbyteorder("="), endpoint=True)
    else:
        info = np.finfo(dt)
        special = [np.nan, np.inf, -np.inf, -0.0, 0.0, info.max, -info.max, info.tiny, info.tiny / 4,
                   1 / 3, -2.5, 65504.0]
        if dt.itemsize == 8:
            special += [1e300, -1e-300, 3.4028235e38, 3.4028235677973366e38, 3.402823669209385e38,
                        2.0**-149, 2.0**-150, 1.0 + 2.0**-30]
        rand = rng.standard_normal(n) * 1000.0
    a = np.resize(np.array(special, dtype=object), n)
    a = np.array([x for x in a], dtype=dt)
    mix = rng.random(n) < 0.5
    a[mix] = rand[mix].astype(dt)
    return a


def exact_in_f32(a):
    """per element: does astype(float32) keep the value?"""
    f = a.astype(np.float32)
    if a.dtype.kind == "f":
        return (f.astype(a.dtype) == a) | np.isnan(a)
    return np.array([float(y) == int(x) for x, y in zip(a.ravel().tolist(), f.ravel().tolist())],
                    dtype=bool).reshape(a.shape)


def same_bits(got, want):
    return got.dtype == np.float32 and got.shape == want.shape and \
        np.array_equal(got.view(np.uint32), want.view(np.uint32))


def convert(d, src, *key):
    out = os.path.join(d, "conv.npy")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([tool, "convert", src, out, *key], capture_output=True, text=True)
    return r, (np.load(out) if r.returncode == 0 else None)


def check_dtypes(d):
    global failures
    rng = np.random.default_rng(7)
    kinds = ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"]
    for kind in kinds:
        for order in "<>":
            dtype = np.dtype(kind).newbyteorder(order) if np.dtype(kind).itemsize > 1 else np.dtype(kind)
            for shape in [(2, 3, 4), (7,), (), (3, 1, 5), (4, 6)]:
                for layout in "CF":
                    base = values(dtype, int(np.prod(shape, dtype=np.int64)), rng).reshape(shape)
                    a = np.asfortranarray(base) if layout == "F" else np.ascontiguousarray(base)
                    p = os.path.join(d, "dt.npy")
                    np.save(p, a)
                    with open(p, "rb") as f:
                        hdr = npformat.read_array_header_1_0(f) if npformat.read_magic(f) == (1, 0) else None
                    case = f"{dtype.str} {shape} {layout} (fortran_order={hdr[1] if hdr else '?'})"
                    r, got = convert(d, p)
                    want = a.astype(np.float32)
                    if r.returncode != 0 or not same_bits(got, want):
                        failures += 1
                        print(f"FAIL: {case}: rc {r.returncode} {r.stderr.strip()}\n  got  {got}\n  want {want}")
                        continue
                    lost = int((~exact_in_f32(a)).sum())
                    warned = "warning" in r.stderr
                    if warned != (lost > 0) or (lost and f"{lost} of {a.size} values" not in r.stderr):
                        failures += 1
                        print(f"FAIL: {case}: {lost} values inexact, stderr: {r.stderr.strip()!r}")
                    if r.stderr.count("warning") > 1:
                        failures += 1
                        print(f"FAIL: {case}: more than one warning: {r.stderr.strip()!r}")
    # Fortran order must really have been exercised
    p = os.path.join(d, "fo.npy")
    np.save(p, np.asfortranarray(np.arange(12, dtype="<i2").reshape(3, 4)))
    with open(p, "rb") as f:
        npformat.read_magic(f)
        if not npformat.read_array_header_1_0(f)[1]:
            failures += 1
            print("FAIL: numpy did not write fortran_order True")


def check_npz(d):
    global failures
    rng = np.random.default_rng(8)
    arrays = {"w": rng.standard_normal((3, 4)).astype("<f8"), "b": np.arange(5, dtype=">i4"),
              "mask": np.array([[True, False], [False, True]]).T}
    for save in (np.savez, np.savez_compressed):
        p = os.path.join(d, "a.npz")
        save(p, **arrays)
        for key, a in arrays.items():
            r, got = convert(d, p, key)
            if r.returncode != 0 or not same_bits(got, a.astype(np.float32)):
                failures += 1
                print(f"FAIL: {save.__name__} key {key}: rc {r.returncode} {r.stderr.strip()}")
            if key == "w" and f"'{p}:w'" not in r.stderr:
                failures += 1
                print(f"FAIL: npz precision warning should name '{p}:w': {r.stderr.strip()!r}")
        r, _ = convert(d, p, "nope")
        if r.returncode == 0 or not all(f"'{k}'" in r.stderr for k in arrays) or "'nope'" not in r.stderr:
            failures += 1
            print(f"FAIL: missing npz key: rc {r.returncode}, stderr {r.stderr.strip()!r}")
        r, _ = convert(d, p)     # several arrays and no key
        if r.returncode == 0 or "must be named" not in r.stderr or "'mask'" not in r.stderr:
            failures += 1
            print(f"FAIL: npz without a key: rc {r.returncode}, stderr {r.stderr.strip()!r}")
    # one array: no key needed; positional arrays are arr_0, ...
    p = os.path.join(d, "one.npz")
    np.savez(p, np.arange(4, dtype="<u2"))
    for key in ((), ("arr_0",)):
        r, got = convert(d, p, *key)
        if r.returncode != 0 or not same_bits(got, np.arange(4, dtype=np.float32)):
            failures += 1
            print(f"FAIL: one-array npz {key}: rc {r.returncode} {r.stderr.strip()}")
    # damaged archives: clear errors, no crash
    np.savez_compressed(p, x=np.linspace(0, 1, 5000))
    data = open(p, "rb").read()
    cases = {"truncated": data[:len(data) // 2], "not a zip": b"hello, this is not a zip" * 20,
             "empty": b""}
    bad = bytearray(data)
    bad[len(data) // 3] ^= 0x55           # inside the deflated data
    cases["corrupt data"] = bytes(bad)
    for what, blob in cases.items():
        q = os.path.join(d, "bad.npz")
        with open(q, "wb") as f:
            f.write(blob)
        r, _ = convert(d, q, "x")
        if r.returncode == 0 or f"'{q}" not in r.stderr or "error" not in r.stderr:
            failures += 1
            print(f"FAIL: {what} npz: rc {r.returncode}, stderr {r.stderr.strip()!r}")
        else:
            print(f"ok: {what} npz: {r.stderr.strip()}")
    # a deflated entry relabelled "stored" in both its headers: its two
    # sizes differ (and a file of this size could hold either), and the
    # message says so
    np.savez_compressed(p, x=np.zeros(64))
    lies = bytearray(open(p, "rb").read())
    k = lies.index(b"PK\x01\x02")
    lies[8:10] = lies[k + 10:k + 12] = b"\0\0"
    stored, size = struct.unpack("<II", lies[k + 20:k + 28])
    with open(q, "wb") as f:
        f.write(lies)
    r, _ = convert(d, q, "x")
    want = f"'{q}:x': the entry is stored uncompressed, yet the archive gives it two sizes, {size} and {stored} bytes"
    if r.returncode == 0 or want not in r.stderr:
        failures += 1
        print(f"FAIL: stored npz entry with two sizes: rc {r.returncode}, stderr {r.stderr.strip()!r}")


shapes = [(2, 3, 4), (5,), (), (1, 1, 7, 3), (2, 1, 2, 1, 2, 1, 2, 3)]
with tempfile.TemporaryDirectory() as d:
    # numpy -> runtime
    for shape in shapes:
        for dtype in ("<f4", "<f8"):
            p = os.path.join(d, "np.npy")
            np.save(p, ramp(shape, dtype))
            run("check", p, *shape)
            for version in ((2, 0), (3, 0)):
                with open(p, "wb") as f:
                    npformat.write_array(f, ramp(shape, dtype), version=version)
                run("check", p, *shape)
    # rejected by the runtime although numpy reads them: not real numbers
    p = os.path.join(d, "rej.npy")
    np.save(p, np.arange(6, dtype="<c8"))
    run("reject", p)
    np.save(p, np.array(["ab", "c"]))
    run("reject", p)
    np.save(p, np.zeros(3, dtype=[("a", "<f4"), ("b", "<i2")]))
    run("reject", p)
    np.save(p, np.array([1, 2], dtype="datetime64[s]"))
    run("reject", p)

    check_dtypes(d)
    check_npz(d)
    # float64 out
    for shape in shapes:
        p = os.path.join(d, "rt64.npy")
        run("write64", p, *shape)
        a = np.load(p)
        if a.dtype != np.dtype("<f8") or a.shape != shape or not np.array_equal(a, ramp(shape, "<f4")):
            failures += 1
            print(f"FAIL: write64 {shape}: numpy read {a.dtype} {a.shape}")
    # runtime -> numpy
    for shape in shapes:
        p = os.path.join(d, "rt.npy")
        run("write", p, *shape)
        a = np.load(p)
        want = ramp(shape, "<f4")
        if a.dtype != np.dtype("<f4") or a.shape != shape or not np.array_equal(a, want):
            failures += 1
            print(f"FAIL: numpy read {a.dtype} {a.shape} for {shape}")
        with open(p, "rb") as f:
            major, minor = npformat.read_magic(f)
            if (major, minor) != (1, 0):
                failures += 1
                print("FAIL: runtime wrote version", major, minor)
    leftovers = [n for n in os.listdir(d) if ".tmp" in n]
    if leftovers:
        failures += 1
        print("FAIL: temporary files left:", leftovers)

print("npy interop:", "OK" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
