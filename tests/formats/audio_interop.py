"""The runtime's audio reader and writer against Python's soundfile package
and SciPy's WAV reader (an implementation independent of libsndfile).

Usage: audio_interop.py PATH/TO/audio_tool
Reading: every WAV encoding, FLAC and Ogg Vorbis, mono and several channels,
must give soundfile's float32 samples bit for bit (and SciPy's integers
divided by 2^(bits-1)), with the file's rate, as [L] or [C, L].  Writing:
32-bit float WAV keeps every value; 16/24-bit WAV and FLAC hold
libsndfile's conversion of clip(x, -1, 1): x * 2^(bits-1) rounded (WAV:
toward -inf, as x * 2^31 rounded and shifted down; FLAC: to nearest, ties
to even) and limited to the integer range, with one warning counting the
clipped samples; Vorbis is close to the input.  Damaged files and bad
arguments: a clear error, no output."""
import os
import subprocess
import sys
import tempfile

import warnings

import numpy as np
import scipy.io.wavfile as wavfile
import soundfile as sf

tool = sys.argv[1]
# SciPy notes the LIST chunk libsndfile writes; it is not what is tested
warnings.simplefilter("ignore", wavfile.WavFileWarning)
failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL:", msg)


def run(*args):
    return subprocess.run([tool, *map(str, args)], capture_output=True, text=True)


def signal(channels, n, rng, peak=0.9, noise=0.3):
    t = np.arange(n) / 8000.0
    x = np.stack([np.sin(2 * np.pi * (220 + 110 * c) * t) * 0.6 + rng.uniform(-noise, noise, n)
                  for c in range(channels)])
    x *= peak / np.max(np.abs(x))
    return x                                  # [C, L], float64


def load(d, path):
    """(tensor, rate, stderr) from the tool, or (None, None, stderr)"""
    out = os.path.join(d, "loaded.npy")
    r = run("load", path, out)
    if r.returncode != 0:
        return None, None, r.stderr
    fields = dict(kv.split("=") for kv in r.stdout.split())
    return np.load(out), int(fields["rate"]), r.stderr


def as_cl(data):
    """soundfile's [L, C] as the runtime's [L] or [C, L]"""
    return data[:, 0] if data.shape[1] == 1 else data.T


def check_reading(d, rng):
    cases = [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "PCM_32"), ("wav", "PCM_U8"), ("wav", "FLOAT"),
             ("wav", "DOUBLE"), ("flac", "PCM_16"), ("flac", "PCM_24"), ("ogg", "VORBIS")]
    for ext, subtype in cases:
        for channels, rate in ((1, 22050), (2, 44100), (3, 8000)):
            # tones only for Vorbis, which drops much of white noise
            x = signal(channels, 5000 + channels, rng, noise=0.0 if ext == "ogg" else 0.3)
            p = os.path.join(d, f"in.{ext}")
            sf.write(p, x.T, rate, subtype=subtype)
            case = f"{ext} {subtype} {channels} ch"
            got, got_rate, err = load(d, p)
            if got is None:
                fail(f"{case}: {err.strip()}")
                continue
            want = as_cl(sf.read(p, dtype="float32", always_2d=True)[0])
            if got.dtype != np.float32 or got.shape != want.shape or not np.array_equal(got, want):
                fail(f"{case}: shape {got.shape} vs soundfile {want.shape}, "
                     f"max diff {np.max(np.abs(got - want)) if got.shape == want.shape else '-'}")
            if got_rate != rate:
                fail(f"{case}: rate {got_rate}, expected {rate}")
            if (got.ndim == 1) != (channels == 1):
                fail(f"{case}: rank {got.ndim} for {channels} channels")
            if ext == "wav" and subtype in ("PCM_16", "PCM_24", "PCM_32", "PCM_U8", "FLOAT"):
                # SciPy: its own RIFF parser; 24-bit arrives in the top bytes of int32
                r2, data = wavfile.read(p)
                scale = {"PCM_16": 2.0**15, "PCM_24": 2.0**31, "PCM_32": 2.0**31, "FLOAT": 1.0}.get(subtype)
                ref = (data.astype(np.float64) - 128) / 128 if subtype == "PCM_U8" else data / scale
                ref = ref.astype(np.float32)
                ref = ref if ref.ndim == 1 else ref.T
                if r2 != rate or not np.array_equal(got, ref):
                    fail(f"{case}: differs from scipy.io.wavfile")
            if ext == "ogg":
                # lossy, but the decoded sound must be the signal
                err_db = 10 * np.log10(np.mean((got - x) ** 2) / np.mean(x ** 2))
                if err_db > -15:
                    fail(f"{case}: decoded Vorbis is {err_db:.1f} dB from the signal")


def check_writing(d, rng):
    x = signal(2, 6000, rng, peak=0.95)
    x[0, 10:20] = [1.5, -1.25, 2.0, -3.0, 1.0, -1.0, 1.0000001, 7.0, -7.0, 0.0]
    x[1, 30] = np.nan
    x32 = x.astype(np.float32)
    src = os.path.join(d, "src.npy")
    np.save(src, x32)
    outside = int(np.sum(~((x32 >= -1) & (x32 <= 1))))      # NaN counts
    # float WAV: exact, nothing clipped, no warning
    p = os.path.join(d, "out.wav")
    r = run("save", src, p, 32000)
    if r.returncode != 0 or r.stderr:
        fail(f"float wav: rc {r.returncode}, stderr {r.stderr.strip()!r}")
    else:
        data, rate = sf.read(p, dtype="float32", always_2d=True)
        rate2, sdata = wavfile.read(p)
        if sf.info(p).subtype != "FLOAT" or rate != 32000 or rate2 != 32000:
            fail(f"float wav: subtype {sf.info(p).subtype}, rate {rate}/{rate2}")
        if not np.array_equal(data.T, x32, equal_nan=True) or not np.array_equal(sdata.T, x32, equal_nan=True):
            fail("float wav: samples changed")
    # PCM and FLAC: rint(clip(x) * full scale), NaN as 0, one warning with the count
    for ext, bits, subtype in (("wav", 16, "PCM_16"), ("wav", 24, "PCM_24"), ("flac", 0, "PCM_16"),
                               ("flac", 24, "PCM_24")):
        p = os.path.join(d, f"out.{ext}")
        r = run("save", src, p, 44100, bits)
        case = f"{ext} {bits or 'default'} bits"
        if r.returncode != 0:
            fail(f"{case}: {r.stderr.strip()}")
            continue
        if r.stderr.count("warning") != 1 or f"{outside} of {x.size} samples" not in r.stderr:
            fail(f"{case}: expected one warning counting {outside} clipped samples: {r.stderr.strip()!r}")
        info = sf.info(p)
        if info.subtype != subtype or info.samplerate != 44100 or info.channels != 2:
            fail(f"{case}: wrote {info.subtype} {info.samplerate} Hz {info.channels} ch")
        clipped = np.nan_to_num(np.clip(x32, -1, 1), nan=0.0).astype(np.float64)
        width = 24 if subtype == "PCM_24" else 16
        if ext == "wav":
            want = np.floor(np.rint(clipped * 2.0**31) / 2.0**(32 - width))
        else:
            want = np.rint(clipped * 2.0**(width - 1))
        want = np.clip(want, -2**(width - 1), 2**(width - 1) - 1).astype(np.int64)
        got = sf.read(p, dtype="int32", always_2d=True)[0].T.astype(np.int64) >> (32 - width)
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[0]
            fail(f"{case}: sample {bad} is {got[tuple(bad)]}, expected {want[tuple(bad)]}")
        if ext == "wav" and bits == 16:
            _, sdata = wavfile.read(p)
            if not np.array_equal(sdata.T.astype(np.int64), want):
                fail(f"{case}: scipy.io.wavfile reads other samples")
    # Vorbis: lossy (tones, then), clipped like the others
    x = signal(2, 6000, rng, peak=0.95, noise=0.0)
    x[0, 10:20] = [1.5, -1.25, 2.0, -3.0, 1.0, -1.0, 1.0000001, 7.0, -7.0, 0.0]
    x32 = x.astype(np.float32)
    np.save(src, x32)
    outside = int(np.sum(~((x32 >= -1) & (x32 <= 1))))
    p = os.path.join(d, "out.ogg")
    r = run("save", src, p, 48000)
    if r.returncode != 0 or f"{outside} of {x.size} samples" not in r.stderr:
        fail(f"ogg: rc {r.returncode}, stderr {r.stderr.strip()!r}")
    else:
        data, rate = sf.read(p, dtype="float32", always_2d=True)
        ref = np.nan_to_num(np.clip(x32, -1, 1), nan=0.0)
        err_db = 10 * np.log10(np.mean((data.T - ref) ** 2) / np.mean(ref ** 2))
        if rate != 48000 or data.shape != (6000, 2) or err_db > -15:
            fail(f"ogg: rate {rate}, shape {data.shape}, error {err_db:.1f} dB")
    # mono [L] stays one channel; a round trip through float WAV is exact
    m = os.path.join(d, "mono.npy")
    np.save(m, x32[0])
    p = os.path.join(d, "mono.wav")
    r = run("save", m, p, 8000)
    got, rate, err = load(d, p)
    if r.returncode != 0 or got is None or got.shape != x32[0].shape or rate != 8000 or \
            not np.array_equal(got, x32[0]):
        fail(f"mono round trip: {r.stderr.strip()} {err.strip()}")


def check_errors(d, rng):
    x = signal(1, 4000, rng)
    good = {}
    for ext in ("wav", "flac", "ogg"):
        p = os.path.join(d, f"good.{ext}")
        sf.write(p, x.T, 16000)
        good[ext] = open(p, "rb").read()
    bad = {
        "truncated.wav": good["wav"][:len(good["wav"]) // 2],
        "cut-in-a-frame.wav": good["wav"][:-1],
        "truncated.flac": good["flac"][:len(good["flac"]) // 2],
        "truncated.ogg": good["ogg"][:len(good["ogg"]) // 2],
        "text.wav": b"this is not audio at all\n" * 20,
        "empty.flac": b"",
        "header-only.wav": good["wav"][:44],
    }
    for name, blob in bad.items():
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(blob)
        got, _, err = load(d, p)
        # a WAV cut inside its last frame, or with a header and no frames
        # left out, is still a whole number of frames shorter: truncated
        if got is not None or "error" not in err or f"'{p}'" not in err:
            fail(f"{name}: loaded {None if got is None else got.shape}, stderr {err.strip()!r}")
        else:
            print(f"ok: {name}: {err.strip()}")
    # a FLAC whose STREAMINFO claims 2^36 - 1 frames decodes cleanly and
    # then ends: the message says how many frames there were, and names no
    # libsndfile error (it has none to name)
    si = bytearray(good["flac"])
    si[8 + 13] |= 0x0F
    si[8 + 14:8 + 18] = b"\xff\xff\xff\xff"
    p = os.path.join(d, "claims-more.flac")
    with open(p, "wb") as f:
        f.write(si)
    got, _, err = load(d, p)
    if got is not None or "says 68719476735 frames, 4000 could be read" not in err or \
            "(" in err.split("could be read")[1]:
        fail(f"claims-more.flac: loaded {None if got is None else got.shape}, stderr {err.strip()!r}")
    r = run("load", d, os.path.join(d, "x.npy"))
    if r.returncode == 0 or "directory" not in r.stderr:
        fail(f"a directory as audio: {r.stderr.strip()!r}")
    # arguments the writer refuses, creating nothing
    src = os.path.join(d, "e.npy")
    for arr, target, rate, bits, frag in (
            (np.zeros((2, 3, 4), np.float32), "e.wav", 8000, 0, "rank"),
            (np.zeros((9, 100), np.float32), "e.flac", 8000, 0, "channels"),
            (np.zeros(100, np.float32), "e.wav", 0, 0, "rate"),
            (np.zeros(100, np.float32), "e.wav", 8000, 8, "bits"),
            (np.zeros(100, np.float32), "e.ogg", 8000, 16, "Vorbis"),
            (np.zeros(100, np.float32), "e.flac", 8000, 32, "bits")):
        np.save(src, arr)
        p = os.path.join(d, target)
        r = run("save", src, p, rate, bits)
        if r.returncode == 0 or frag not in r.stderr or os.path.exists(p):
            fail(f"save {arr.shape} to {target} at {rate} Hz, {bits} bits: rc {r.returncode}, "
                 f"stderr {r.stderr.strip()!r}")


rng = np.random.default_rng(11)
with tempfile.TemporaryDirectory() as d:
    check_reading(d, rng)
    check_writing(d, rng)
    check_errors(d, rng)
    leftovers = [n for n in os.listdir(d) if n.startswith(".convrt-")]
    if leftovers:
        fail(f"temporary files left: {leftovers}")
print("audio interop:", "OK" if failures == 0 else f"{failures} failures")
sys.exit(1 if failures else 0)
