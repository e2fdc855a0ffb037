#!/usr/bin/env python3
"""convc run over many files: an input given as a pattern runs the pipeline
on every file it matches, outputs named by templates; a bad file is
reported and the rest go on; files are read and written as by a single run
(sound at each file's rate, .npz:KEY, options, several files per output).
usage: test_batch.py CONVC [TEST ...]"""
import os, pty, select, signal, subprocess, sys, tempfile, time

import numpy as np
import scipy.ndimage as ndi
import scipy.signal
import soundfile as sf
from PIL import Image

CONVC = os.path.abspath(sys.argv[1])
SOBEL = """pipeline sobel {
  input img: f32[H, W]
  gx = conv2d(img, sobel_x, pad=same, pad_mode=replicate)
  gy = conv2d(img, sobel_y, pad=same, pad_mode=replicate)
  output mag = sqrt(gx * gx + gy * gy)
}
"""
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)


def sobel_ref(img):
    gx = ndi.correlate(img, SOBEL_X, mode="nearest")
    gy = ndi.correlate(img, SOBEL_X.T, mode="nearest")
    return np.sqrt(gx * gx + gy * gy)


def env_for(tmp):
    return dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "xdg"))


def convc(tmp, *args):
    return subprocess.run([CONVC, *args], cwd=tmp, capture_output=True, text=True, timeout=120,
                          env=env_for(tmp))


def write_pgm(path, a):
    h, w = a.shape
    with open(path, "wb") as f:
        f.write(b"P5\n%d %d\n255\n" % (w, h) + a.astype(np.uint8).tobytes())


def read_pgm(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, w, h, maxval, rest = data.split(maxsplit=4)
    assert magic == b"P5" and maxval == b"255"
    return np.frombuffer(rest, np.uint8).reshape(int(h), int(w))


def make_photos(tmp, n, folder="photos", bad=None, seed=0):
    """n gray images of assorted sizes; the one numbered bad is truncated"""
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(tmp, folder), exist_ok=True)
    imgs = {}
    for i in range(n):
        h, w = (int(v) for v in rng.integers(3, 40, 2))
        a = rng.integers(0, 256, (h, w))
        path = os.path.join(folder, f"p{i}.pgm")
        if i == bad:
            with open(os.path.join(tmp, path), "wb") as f:
                f.write(b"P5\n10 10\n255\n" + bytes(20))
        else:
            write_pgm(os.path.join(tmp, path), a)
            imgs[path] = a / 255.0
    return imgs


def setup(tmp):
    with open(os.path.join(tmp, "sobel.conv"), "w") as f:
        f.write(SOBEL)
    os.mkdir(os.path.join(tmp, "edges"))


def summary(stderr):
    lines = [l for l in stderr.splitlines() if " done in " in l]
    assert len(lines) == 1, stderr
    return lines[0]


def no_temporary_files(tmp):
    for root, _, files in os.walk(tmp):
        left = [f for f in files if f.startswith(".convrt-")]
        assert not left, (root, left)


def test_every_file_is_run_and_a_bad_one_does_not_stop_the_rest(tmp):
    imgs = make_photos(tmp, 7, bad=3)
    p = convc(tmp, "run", "sobel.conv", "img=photos/*.pgm", "-o", "mag=edges/{stem}.npy")
    assert p.returncode == 1, p.stderr
    assert "convc: error: cannot load 'photos/p3.pgm': pixel data: truncated" in p.stderr, p.stderr
    line = summary(p.stderr)
    assert line.startswith("convc: 6 of 7 files done in ") and line.endswith("; 1 failed: photos/p3.pgm"), line
    assert "\r" not in p.stderr and "files/s  " not in p.stderr     # no progress line: not a terminal
    assert sorted(os.listdir(os.path.join(tmp, "edges"))) == [f"p{i}.npy" for i in (0, 1, 2, 4, 5, 6)]
    for path, img in imgs.items():
        y = np.load(os.path.join(tmp, "edges", os.path.basename(path)[:-4] + ".npy"))
        ref = sobel_ref(img)
        assert y.shape == ref.shape and np.allclose(y, ref, rtol=1e-5, atol=1e-5), (path, np.abs(y - ref).max())
    no_temporary_files(tmp)
    # with every file good: exit 0, and images written like single runs
    os.remove(os.path.join(tmp, "photos", "p3.pgm"))
    p = convc(tmp, "run", "sobel.conv", "img=photos/*.pgm", "-o", "mag=edges/{stem}.pgm")
    assert p.returncode == 0, p.stderr
    assert summary(p.stderr).startswith("convc: 6 of 6 files done in "), p.stderr
    for path, img in imgs.items():
        got = read_pgm(os.path.join(tmp, "edges", os.path.basename(path)))
        want = np.floor(np.clip(sobel_ref(img), 0, 1) * 255 + 0.5)
        assert np.abs(got.astype(int) - want).max() <= 1, path


def test_files_run_one_per_thread_or_one_at_a_time_with_the_same_bits(tmp):
    """N >= 2T files: T at a time, each on one thread; else one at a time
    on all T threads"""
    make_photos(tmp, 8)
    want = {"1": "one file at a time", "2": "one file per thread", "4": "one file per thread",
            "5": "one file at a time"}
    outs = {}
    for t, mode in want.items():
        os.makedirs(os.path.join(tmp, "out" + t))
        p = convc(tmp, "run", "-v", "--threads", t, "sobel.conv", "img=photos/*.pgm", "-o",
                  f"mag=out{t}/{{stem}}.npy")
        assert p.returncode == 0, p.stderr
        assert f"convc: 8 files, {t} thread{'s' if t != '1' else ''}: {mode}" in p.stderr, (t, p.stderr)
        outs[t] = {f: np.load(os.path.join(tmp, "out" + t, f)) for f in os.listdir(os.path.join(tmp, "out" + t))}
    for t in outs:
        assert outs[t].keys() == outs["1"].keys()
        for f in outs[t]:
            assert np.array_equal(outs[t][f].view(np.uint32), outs["1"][f].view(np.uint32)), (t, f)
    # and the same bits as a run on the one file
    p = convc(tmp, "run", "sobel.conv", "img=photos/p5.pgm", "-o", "mag=one.npy")
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(os.path.join(tmp, "one.npy")).view(np.uint32), outs["2"]["p5.npy"].view(np.uint32))


def test_the_pipeline_is_compiled_once(tmp):
    make_photos(tmp, 5)
    p = convc(tmp, "run", "-v", "sobel.conv", "img=photos/*.pgm", "-o", "mag=edges/{stem}.npy")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("cache miss: compiled") == 1 and "cache hit" not in p.stderr, p.stderr
    p = convc(tmp, "run", "-v", "sobel.conv", "img=photos/*.pgm", "-o", "mag=edges/{stem}.npy")
    assert p.stderr.count("cache hit") == 1 and "cache miss" not in p.stderr, p.stderr


def test_output_names_come_from_templates(tmp):
    os.makedirs(os.path.join(tmp, "in", "deep"))
    rng = np.random.default_rng(1)
    names = [f"f{i}.x.npy" for i in range(12)]
    for n in names:
        np.save(os.path.join(tmp, "in", "deep", n), rng.standard_normal((4, 5)).astype(np.float32))
    p = convc(tmp, "run", "sobel.conv", "img=in/*/*.npy", "-o", "mag=edges/{i}_{stem}_{ext}_{{x}}.npy")
    assert p.returncode == 0, p.stderr
    order = sorted(names)       # byte order: f0, f1, f10, f11, f2, ...
    want = sorted(f"{i + 1:02d}_{n[:-4]}_npy_{{x}}.npy" for i, n in enumerate(order))
    assert sorted(os.listdir(os.path.join(tmp, "edges"))) == want, os.listdir(os.path.join(tmp, "edges"))
    for i, n in enumerate(order):
        y = np.load(os.path.join(tmp, "edges", f"{i + 1:02d}_{n[:-4]}_npy_{{x}}.npy"))
        ref = sobel_ref(np.load(os.path.join(tmp, "in", "deep", n)).astype(np.float64))
        assert np.allclose(y, ref, rtol=1e-5, atol=1e-5), n
    # {dir} and {name}: beside each input
    p = convc(tmp, "run", "sobel.conv", "img=in/deep/f1*.npy", "-o", "mag={dir}/edges_of_{name}")
    assert p.returncode == 0, p.stderr
    assert sorted(f for f in os.listdir(os.path.join(tmp, "in", "deep")) if f.startswith("edges_of_")) == \
        ["edges_of_f1.x.npy", "edges_of_f10.x.npy", "edges_of_f11.x.npy"]
    # one match: a batch of one, {i} is 1
    p = convc(tmp, "run", "sobel.conv", "img=in/deep/f7*", "-o", "mag=edges/only{i}.npy")
    assert p.returncode == 0 and summary(p.stderr).startswith("convc: 1 of 1 file done"), p.stderr
    assert os.path.exists(os.path.join(tmp, "edges", "only1.npy"))
    # a backslash makes a bracket a bracket
    np.save(os.path.join(tmp, "in", "sq[1].npy"), np.ones((3, 3), np.float32))
    p = convc(tmp, "run", "sobel.conv", "img=in/sq\\[1].npy", "-o", "mag=edges/{stem}_out.npy")
    assert p.returncode == 0, p.stderr
    assert np.array_equal(np.load(os.path.join(tmp, "edges", "sq[1]_out.npy")), np.zeros((3, 3), np.float32))


def test_names_that_collide_are_refused_before_anything_runs(tmp):
    make_photos(tmp, 3, folder="photos/a")
    make_photos(tmp, 2, folder="photos/b", seed=1)
    before = {f: open(os.path.join(tmp, "photos/a", f), "rb").read() for f in os.listdir(os.path.join(tmp, "photos/a"))}

    def refused(out, message, pattern="photos/*/*.pgm"):
        p = convc(tmp, "run", "sobel.conv", f"img={pattern}", "-o", f"mag={out}")
        assert p.returncode == 1 and message in p.stderr, (out, p.stderr)
        assert " done in " not in p.stderr, p.stderr
        assert os.listdir(os.path.join(tmp, "edges")) == [], os.listdir(os.path.join(tmp, "edges"))
        return p.stderr

    err = refused("edges/all.npy", "convc: error: output 'mag': -o 'edges/all.npy' names one file for all 5 "
                                   "files; put {stem}, {name} or {i} in it")
    # photos/a/p0.pgm and photos/b/p0.pgm have the same stem
    err = refused("edges/{stem}.npy", "output 'mag' ('edges/p0.npy') for photos/a/p0.pgm and output 'mag' "
                                      "('edges/p0.npy') for photos/b/p0.pgm are the same file")
    assert err.count("are the same file") == 2, err          # p0 and p1
    err = refused("{dir}/{name}", "output 'mag' ('photos/a/p0.pgm') for photos/a/p0.pgm would overwrite "
                                  "input 'img' ('photos/a/p0.pgm')")
    refused("edges/{stem", "-o 'edges/{stem': unmatched '{'")
    refused("edges/{size}.npy", "unknown field '{size}' (known: {stem} {name} {ext} {dir} {i})")
    refused("edges/{stem}.jpg", "output 'mag'")
    refused("edges/{stem}.npy", "input 'img': no file matches 'nothing/*.pgm'", pattern="nothing/*.pgm")
    refused("edges/{stem}.npy", "input 'img': 'photos/*' matches only directories", pattern="photos/*")
    after = {f: open(os.path.join(tmp, "photos/a", f), "rb").read() for f in os.listdir(os.path.join(tmp, "photos/a"))}
    assert before == after


ADD = """pipeline add {
  input a: f32[H, W]
  input b: f32[H, W]
  output y = a + 10 * b
}
"""


def test_patterns_are_paired_in_sorted_order(tmp):
    with open(os.path.join(tmp, "add.conv"), "w") as f:
        f.write(ADD)
    for d in ("a", "b"):
        os.mkdir(os.path.join(tmp, d))
    rng = np.random.default_rng(2)
    a_names, b_names = ["9.npy", "10.npy", "x.npy"], ["b1.npy", "b2.npy", "b3.npy"]
    a = {n: rng.standard_normal((3, 4)).astype(np.float32) for n in a_names}
    b = {n: rng.standard_normal((3, 4)).astype(np.float32) for n in b_names}
    for n in a_names:
        np.save(os.path.join(tmp, "a", n), a[n])
    for n in b_names:
        np.save(os.path.join(tmp, "b", n), b[n])
    p = convc(tmp, "run", "add.conv", "a=a/*.npy", "b=b/*.npy", "-o", "y=edges/{stem}.npy")
    assert p.returncode == 0, p.stderr
    # byte order pairs 10 with b1, 9 with b2, x with b3; templates follow the first pattern
    for an, bn in zip(["10.npy", "9.npy", "x.npy"], b_names):
        y = np.load(os.path.join(tmp, "edges", an))
        assert np.allclose(y, a[an] + 10.0 * b[bn], rtol=1e-6, atol=1e-6), (an, bn)
    # a plain file is the same for every item
    p = convc(tmp, "run", "add.conv", "b=b/b2.npy", "a=a/*.npy", "-o", "y=edges/plain_{stem}.npy")
    assert p.returncode == 0, p.stderr
    for an in a_names:
        y = np.load(os.path.join(tmp, "edges", "plain_" + an))
        assert np.allclose(y, a[an] + 10.0 * b["b2.npy"], rtol=1e-6, atol=1e-6), an
    # unequal counts are refused
    os.remove(os.path.join(tmp, "b", "b3.npy"))
    p = convc(tmp, "run", "add.conv", "a=a/*.npy", "b=b/*.npy", "-o", "y=edges/n{i}.npy")
    assert p.returncode == 1
    assert "input 'b' matches 2 files but input 'a' matches 3; patterns are paired in sorted order" in p.stderr
    assert not any(f.startswith("n") for f in os.listdir(os.path.join(tmp, "edges")))
    # names are checked as for one run
    p = convc(tmp, "run", "add.conv", "a=a/*.npy", "-o", "y=edges/{i}.npy")
    assert p.returncode == 1 and "input 'b' is not given (add b=FILE)" in p.stderr, p.stderr
    p = convc(tmp, "run", "add.conv", "a=a/*.npy", "b=b/b1.npy", "c=x.npy", "-o", "z=edges/{i}.npy")
    assert "pipeline 'add' has no input 'c'" in p.stderr and "pipeline 'add' has no output 'z'" in p.stderr


def test_a_failed_check_names_the_file_and_the_rest_go_on(tmp):
    with open(os.path.join(tmp, "fixed.conv"), "w") as f:
        f.write("pipeline fixed {\n  input x: f32[4, 4]\n  output y = relu(x)\n}\n")
    os.mkdir(os.path.join(tmp, "in"))
    rng = np.random.default_rng(3)
    xs = {f"x{i}.npy": rng.standard_normal((5, 5) if i == 2 else (4, 4)).astype(np.float32) for i in range(5)}
    for n, x in xs.items():
        np.save(os.path.join(tmp, "in", n), x)
    for threads in ("1", "2"):
        out = os.path.join(tmp, "edges", threads)
        os.mkdir(out)
        p = convc(tmp, "run", "--threads", threads, "fixed.conv", "x=in/*.npy", "-o", f"y=edges/{threads}/{{name}}")
        assert p.returncode == 1
        assert ("convc: error: pipeline 'fixed': input 'x' dim 0 is 5, but the pipeline declares 4\n"
                "convc: note: x=in/x2.npy was read as f32[5, 5] (declared f32[4, 4])\n") in p.stderr, p.stderr
        assert summary(p.stderr).endswith("; 1 failed: in/x2.npy"), p.stderr
        assert sorted(os.listdir(out)) == ["x0.npy", "x1.npy", "x3.npy", "x4.npy"]
        for n in os.listdir(out):
            assert np.array_equal(np.load(os.path.join(out, n)), np.maximum(xs[n], 0))


def test_a_terminal_shows_progress(tmp):
    make_photos(tmp, 6)
    master, slave = pty.openpty()
    p = subprocess.Popen([CONVC, "run", "sobel.conv", "img=photos/*.pgm", "-o", "mag=edges/{stem}.npy"], cwd=tmp,
                         stdout=subprocess.DEVNULL, stderr=slave, env=env_for(tmp))
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], 60)
        if not r:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert p.wait(timeout=60) == 0
    text = out.decode()
    assert "\r\x1b[K[########################] 6/6  " in text and " files/s  0:00 left" in text, repr(text)
    assert text.endswith("\r\x1b[Kconvc: 6 of 6 files done in " + text.split("files done in ")[1]), repr(text)
    assert len(os.listdir(os.path.join(tmp, "edges"))) == 6


def test_an_interrupt_stops_after_the_files_in_progress(tmp):
    """SIGINT: no new item starts, those in progress are written whole"""
    with open(os.path.join(tmp, "slow.conv"), "w") as f:
        f.write("pipeline slow {\n  input x: f32[H, W]\n  output y = conv2d(x, box2d(25), pad=same)\n}\n")
    os.mkdir(os.path.join(tmp, "in"))
    x = np.random.default_rng(4).standard_normal((160, 160)).astype(np.float32)
    n = 300
    for i in range(n):
        np.save(os.path.join(tmp, "in", f"{i:03d}.npy"), x)
    p = subprocess.Popen([CONVC, "run", "--threads", "1", "slow.conv", "x=in/*.npy", "-o", "y=edges/{stem}.npy"],
                         cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(tmp))
    deadline = time.time() + 60
    while not os.path.exists(os.path.join(tmp, "edges", "003.npy")) and time.time() < deadline:
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGINT, (p.returncode, err)
    line = summary(err)
    assert "; interrupted (Interrupt), " in line and line.endswith(" not run"), line
    done = sorted(os.listdir(os.path.join(tmp, "edges")))
    assert 4 <= len(done) < n, len(done)
    assert done == [f"{i:03d}.npy" for i in range(len(done))]
    ref = np.load(os.path.join(tmp, "edges", done[0]))
    for f in done:
        assert np.array_equal(np.load(os.path.join(tmp, "edges", f)), ref), f
    no_temporary_files(tmp)


# ---- the formats of a single run ------------------------------------------------

FIR = """pipeline fir {
  input x: f32[L]
  input taps: f32[K]
  output y = convolve(x, taps, mode=full)
}
"""
MIX = """pipeline mix {
  input a: f32[L]
  input b: f32[L]
  output y = a + b
}
"""


def write_tone(path, n, rate, seed):
    """a PCM_16 WAV; returns the samples as convc reads them"""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    x = 0.4 * np.sin(2 * np.pi * 440 * t) + rng.uniform(-0.1, 0.1, n)
    sf.write(path, x, rate, subtype="PCM_16")
    return sf.read(path, dtype="float32")[0]


def test_sound_files_keep_each_files_rate(tmp):
    with open(os.path.join(tmp, "fir.conv"), "w") as f:
        f.write(FIR)
    os.mkdir(os.path.join(tmp, "snd"))
    taps = scipy.signal.firwin(9, 0.3).astype(np.float32)
    np.savez(os.path.join(tmp, "taps.npz"), lowpass=taps, other=np.ones(4, np.float32))
    rates = {"a": 8000, "b": 22050, "c": 44100, "d": 16000}
    xs = {s: write_tone(os.path.join(tmp, "snd", s + ".wav"), 500 + 37 * i, r, i)
          for i, (s, r) in enumerate(rates.items())}
    for threads in ("1", "2"):      # one at a time, and one per thread
        out = os.path.join(tmp, "edges", threads)
        os.mkdir(out)
        p = convc(tmp, "run", "--threads", threads, "fir.conv", "x=snd/*.wav", "taps=taps.npz:lowpass",
                  "-o", f"y=edges/{threads}/{{stem}}.wav", "-o", f"y=edges/{threads}/{{stem}}_16.wav:16")
        assert p.returncode == 0, p.stderr
        assert summary(p.stderr).startswith("convc: 4 of 4 files done"), p.stderr
        for s, r in rates.items():
            ref = scipy.signal.lfilter(taps.astype(np.float64), 1.0, np.concatenate([xs[s], np.zeros(8)]))
            assert np.allclose(ref, np.convolve(xs[s].astype(np.float64), taps.astype(np.float64)), atol=1e-12)
            y, rate = sf.read(os.path.join(out, s + ".wav"), dtype="float64")
            assert rate == r and sf.info(os.path.join(out, s + ".wav")).subtype == "FLOAT", (s, rate)
            assert y.shape == ref.shape and np.allclose(y, ref, atol=2e-6), (s, np.abs(y - ref).max())
            y16, rate16 = sf.read(os.path.join(out, s + "_16.wav"), dtype="float64")
            assert rate16 == r and sf.info(os.path.join(out, s + "_16.wav")).subtype == "PCM_16"
            assert np.abs(y16 - ref).max() <= 1.01 / 32768, (s, np.abs(y16 - ref).max())
    # --rate overrides every file's rate
    p = convc(tmp, "run", "fir.conv", "x=snd/*.wav", "taps=taps.npz:lowpass", "-o", "y=edges/{stem}.wav",
              "--rate", "12000")
    assert p.returncode == 0, p.stderr
    assert all(sf.info(os.path.join(tmp, "edges", s + ".wav")).samplerate == 12000 for s in rates)
    # a wrong key of the archive read once: nothing runs
    p = convc(tmp, "run", "fir.conv", "x=snd/*.wav", "taps=taps.npz:lowpas", "-o", "y=edges/k{stem}.wav")
    assert p.returncode == 1 and "no array 'lowpas'" in p.stderr and "'lowpass'" in p.stderr, p.stderr
    assert " done in " not in p.stderr and not any(f.startswith("k") for f in os.listdir(os.path.join(tmp, "edges")))


def test_sound_rates_are_found_per_file(tmp):
    with open(os.path.join(tmp, "mix.conv"), "w") as f:
        f.write(MIX)
    for d in ("a", "b"):
        os.mkdir(os.path.join(tmp, d))
    pairs = {"s1": (8000, 8000), "s2": (8000, 16000), "s3": (22050, 22050)}
    want = {}
    for i, (s, (ra, rb)) in enumerate(pairs.items()):
        a = write_tone(os.path.join(tmp, "a", s + ".wav"), 300, ra, 2 * i)
        b = write_tone(os.path.join(tmp, "b", s + ".wav"), 300, rb, 2 * i + 1)
        want[s] = a.astype(np.float64) + b
    # s2's inputs differ: it fails, the others are written at their rate
    p = convc(tmp, "run", "mix.conv", "a=a/*.wav", "b=b/*.wav", "-o", "y=edges/{stem}.wav")
    assert p.returncode == 1
    assert ("convc: error: output 'y' ('edges/s2.wav') for a/s2.wav: the audio inputs it is computed from have "
            "different sample rates: 'a' (8000 Hz), 'b' (16000 Hz); give the output's rate with --rate N") \
        in p.stderr, p.stderr
    assert summary(p.stderr).endswith("; 1 failed: a/s2.wav"), p.stderr
    assert sorted(os.listdir(os.path.join(tmp, "edges"))) == ["s1.wav", "s3.wav"]
    for s in ("s1", "s3"):
        y, rate = sf.read(os.path.join(tmp, "edges", s + ".wav"), dtype="float64")
        assert rate == pairs[s][0] and np.allclose(y, want[s], atol=1e-6), s
    # no sound leads to a sound output: refused before anything runs
    os.mkdir(os.path.join(tmp, "n"))
    for s in pairs:
        np.save(os.path.join(tmp, "n", s + ".npy"), np.zeros(300, np.float32))
    p = convc(tmp, "run", "mix.conv", "a=n/*.npy", "b=n/s1.npy", "-o", "y=edges/n_{stem}.wav")
    assert p.returncode == 1 and " done in " not in p.stderr, p.stderr
    assert ("output 'y' ('edges/n_s1.wav') for n/s1.npy: no audio input leads to it, so its sample rate is not "
            "known; give it with --rate N") in p.stderr, p.stderr
    assert not any(f.startswith("n_") for f in os.listdir(os.path.join(tmp, "edges")))
    p = convc(tmp, "run", "mix.conv", "a=n/*.npy", "b=n/s1.npy", "-o", "y=edges/n_{stem}.wav", "--rate=1000")
    assert p.returncode == 0, p.stderr
    assert all(sf.info(os.path.join(tmp, "edges", f"n_{s}.wav")).samplerate == 1000 for s in pairs)


GX = """pipeline gx {
  input img: f32[H, W]
  output gx = conv2d(img, sobel_x, pad=same, pad_mode=replicate)
}
"""


def test_one_output_to_several_files_with_options(tmp):
    with open(os.path.join(tmp, "gx.conv"), "w") as f:
        f.write(GX)
    imgs = make_photos(tmp, 5)
    p = convc(tmp, "run", "gx.conv", "img=photos/*.pgm", "-o", "gx=edges/{stem}.png:auto",
              "-o", "gx=edges/{stem}.npy")
    assert p.returncode == 0, p.stderr
    assert sorted(os.listdir(os.path.join(tmp, "edges"))) == sorted(f"p{i}.{e}" for i in range(5)
                                                                    for e in ("png", "npy"))
    for path, img in imgs.items():
        stem = os.path.basename(path)[:-4]
        g = np.load(os.path.join(tmp, "edges", stem + ".npy")).astype(np.float64)
        assert np.allclose(g, ndi.correlate(img, SOBEL_X, mode="nearest"), atol=1e-5), stem
        im = Image.open(os.path.join(tmp, "edges", stem + ".png"))
        unit = (g - g.min()) / (g.max() - g.min())
        assert im.mode == "L" and np.array_equal(np.array(im).astype(int), np.floor(unit * 255 + 0.5)), stem
    # without :auto a signed result is clamped, with a warning naming the output and the hint
    p = convc(tmp, "run", "gx.conv", "img=photos/p[01].pgm", "-o", "gx=edges/clamp_{stem}.png")
    assert p.returncode == 0, p.stderr
    assert "convc: warning: output 'gx': 'edges/clamp_p0.png': " in p.stderr, p.stderr
    assert p.stderr.count(":auto rescales") == 2, p.stderr
    # two templates that make the same file, and an option the format lacks: refused before anything runs
    p = convc(tmp, "run", "gx.conv", "img=photos/*.pgm", "-o", "gx=edges/s_{stem}.npy", "-o", "gx=edges/s_{stem}.npy:f64")
    assert p.returncode == 1 and "are the same file" in p.stderr and " done in " not in p.stderr, p.stderr
    p = convc(tmp, "run", "gx.conv", "img=photos/*.pgm", "-o", "gx=edges/o_{stem}.npy", "-o", "gx=edges/o_{stem}.png:24")
    assert p.returncode == 1 and "output 'gx'" in p.stderr and " done in " not in p.stderr, p.stderr
    assert not any(f.startswith(("s_", "o_")) for f in os.listdir(os.path.join(tmp, "edges")))


def test_out_dtype_f64(tmp):
    imgs = make_photos(tmp, 3)
    p = convc(tmp, "run", "--out-dtype=f64", "sobel.conv", "img=photos/*.pgm", "-o", "mag=edges/{stem}.npy",
              "-o", "mag=edges/{stem}_32.npy:f32")
    assert p.returncode == 0, p.stderr
    for path, img in imgs.items():
        stem = os.path.basename(path)[:-4]
        y = np.load(os.path.join(tmp, "edges", stem + ".npy"))
        y32 = np.load(os.path.join(tmp, "edges", stem + "_32.npy"))
        assert y.dtype == np.float64 and y32.dtype == np.float32, (y.dtype, y32.dtype)
        assert np.array_equal(y, y32.astype(np.float64)), "the float32 results widened exactly"
        assert np.allclose(y, sobel_ref(img), rtol=1e-5, atol=1e-5), stem


def test_npz_archives_by_key(tmp):
    os.mkdir(os.path.join(tmp, "runs"))
    rng = np.random.default_rng(5)
    xs = {}
    for i in range(4):
        xs[i] = rng.standard_normal((6, 7)).astype(np.float32)
        arrays = {"x": xs[i], "y": np.zeros(2)} if i != 2 else {"z": xs[i]}
        np.savez_compressed(os.path.join(tmp, "runs", f"r{i}.npz"), **arrays)
    p = convc(tmp, "run", "sobel.conv", "img=runs/*.npz:x", "-o", "mag=edges/{stem}.npy")
    assert p.returncode == 1, p.stderr
    assert "runs/r2.npz" in p.stderr and "no array 'x'" in p.stderr and "'z'" in p.stderr, p.stderr
    assert summary(p.stderr).endswith("; 1 failed: runs/r2.npz"), p.stderr
    assert sorted(os.listdir(os.path.join(tmp, "edges"))) == ["r0.npy", "r1.npy", "r3.npy"]
    for i in (0, 1, 3):
        y = np.load(os.path.join(tmp, "edges", f"r{i}.npy"))
        assert np.allclose(y, sobel_ref(xs[i].astype(np.float64)), rtol=1e-5, atol=1e-5), i


def test_standard_streams_are_refused(tmp):
    with open(os.path.join(tmp, "add.conv"), "w") as f:
        f.write(ADD)
    make_photos(tmp, 2)
    p = subprocess.run([CONVC, "run", "add.conv", "a=photos/*.pgm", "b=-", "-o", "y=edges/{stem}.npy"], cwd=tmp,
                       input=b"", capture_output=True, timeout=60, env=env_for(tmp))
    err = p.stderr.decode()
    assert p.returncode == 1 and "input 'b' is '-', but standard input is not read in a run over many files" in err, err
    p = convc(tmp, "run", "sobel.conv", "img=photos/*.pgm", "-o", "mag=-")
    assert p.returncode == 1 and p.stdout == "", p.stdout
    assert ("output 'mag' is '-', but standard output cannot take one result per file; name the files with a "
            "template such as -o mag='out/{stem}.npy'") in p.stderr, p.stderr
    assert " done in " not in p.stderr and os.listdir(os.path.join(tmp, "edges")) == []


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from testmain import main
    main(globals(), setup)
