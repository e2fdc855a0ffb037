#!/usr/bin/env python3
"""The compile cache of convc run: a second run links the stored object
instead of compiling; damaged or foreign entries are never used; the key
changes with everything that changes the code.
usage: test_cache.py CONVC [TEST ...]"""
import ctypes, os, stat, struct, subprocess, sys, tempfile, time

import numpy as np

CONVC = os.path.abspath(sys.argv[1])
EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")

BLUR = """pipeline blur {
  input x: f32[H, W]
  const k: f32[3, 3] = load("k.npy")
  output y = conv2d(x, k, pad=1) |> relu
}
"""
HEADER = 48     # magic 8, format 4, header size 4, key 16, size 8, checksum 8
FORMAT = 2      # the payload: each object as a u64 size and its bytes

# Two 3x3 convolutions whose kernel functions are large enough to be
# compiled on threads of their own (a ResNet basic block)
BLOCK = """pipeline block {
  input x: f32[1, 64, 56, 56]
  input w1: f32[64, 64, 3, 3]
  input b1: f32[64]
  input w2: f32[64, 64, 3, 3]
  input b2: f32[64]
  h = conv2d(x, w1, bias=b1, pad=1) |> relu
  output y = relu(conv2d(h, w2, bias=b2, pad=1) + x)
}
"""

xxhash = ctypes.CDLL("libxxhash.so.0")
xxhash.XXH3_64bits.restype = ctypes.c_uint64
xxhash.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def env_for(tmp, **extra):
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(tmp, "xdg"))
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def convc(tmp, *args, env=None):
    return subprocess.run([CONVC, *args], cwd=tmp, capture_output=True, text=True, timeout=120,
                          env=env or env_for(tmp))


def cache_dir(tmp):
    return os.path.join(tmp, "xdg", "convc")


def entries(tmp, d=None):
    d = d or cache_dir(tmp)
    return sorted(f for f in os.listdir(d) if f.endswith(".jit")) if os.path.isdir(d) else []


def conv2d_ref(x, k):
    """zero-padded 3x3 cross-correlation, float64"""
    p = np.pad(x.astype(np.float64), 1)
    h, w = x.shape
    return sum(k[i, j] * p[i:i + h, j:j + w] for i in range(3) for j in range(3))


def setup(tmp):
    with open(os.path.join(tmp, "blur.conv"), "w") as f:
        f.write(BLUR)
    rng = np.random.default_rng(7)
    np.save(os.path.join(tmp, "k.npy"), rng.standard_normal((3, 3)).astype(np.float32))
    np.save(os.path.join(tmp, "x.npy"), rng.standard_normal((20, 30)).astype(np.float32))


def run_blur(tmp, *extra, out="y.npy", env=None):
    p = convc(tmp, "run", "-v", "blur.conv", "x=x.npy", "-o", f"y={out}", *extra, env=env)
    assert p.returncode == 0, p.stderr
    return p, np.load(os.path.join(tmp, out))


def check_blur(tmp, y):
    ref = np.maximum(conv2d_ref(np.load(os.path.join(tmp, "x.npy")), np.load(os.path.join(tmp, "k.npy"))), 0)
    assert np.allclose(y, ref, rtol=1e-5, atol=1e-5), np.abs(y - ref).max()


def test_a_second_run_links_the_stored_object(tmp):
    """the CNN block example: miss, then hit; the same bits as compiling
    without the cache, and the numbers of a NumPy reference"""
    ex = os.path.abspath(EXAMPLES)
    args = ["run", "-v", os.path.join(ex, "cnn_block.conv")] + [
        f"{n}={os.path.join(ex, 'data', 'cnn_' + n + '.npy')}" for n in ("x", "w1", "b1", "w2")]
    p1 = convc(tmp, *args, "-o", "y=y1.npy")
    assert p1.returncode == 0, p1.stderr
    assert "cache miss: compiled in" in p1.stderr and "cache hit" not in p1.stderr, p1.stderr
    assert len(entries(tmp)) == 1
    p2 = convc(tmp, *args, "-o", "y=y2.npy")
    assert p2.returncode == 0, p2.stderr
    assert "cache hit: " + os.path.join(cache_dir(tmp), entries(tmp)[0]) in p2.stderr, p2.stderr
    assert "cache miss" not in p2.stderr, p2.stderr
    p3 = convc(tmp, *[a for a in args if a != "-v"], "--no-cache", "-o", "y=y3.npy")
    assert p3.returncode == 0 and p3.stderr == "", p3.stderr
    y1, y2, y3 = (np.load(os.path.join(tmp, f"y{i}.npy")) for i in (1, 2, 3))
    assert np.array_equal(y1.view(np.uint32), y2.view(np.uint32))
    assert np.array_equal(y1.view(np.uint32), y3.view(np.uint32))
    # float64 reference: conv 3x3 + bias (pad 1), relu, 2x2 max-pool, 1x1 conv
    d = lambda n: np.load(os.path.join(ex, "data", f"cnn_{n}.npy")).astype(np.float64)
    x, w1, b1, w2 = d("x"), d("w1"), d("b1"), d("w2")
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    c = np.einsum("kcij,cijhw->khw", w1, np.array([[xp[:, i:i + 32, j:j + 32] for j in range(3)]
                                                    for i in range(3)]).transpose(2, 0, 1, 3, 4))
    c = np.maximum(c + b1[:, None, None], 0)
    pooled = c.reshape(16, 16, 2, 16, 2).max(axis=(2, 4))
    ref = np.einsum("kc,chw->khw", w2, pooled)
    assert y2.shape == ref.shape and np.allclose(y2, ref, rtol=1e-4, atol=1e-4), np.abs(y2 - ref).max()


def test_a_hit_is_ready_fast(tmp):
    """parse, check, lower and link: well under 20 ms of the run (the
    verbose line measures from convc's start to the pipeline ready)"""
    run_blur(tmp)
    best = 1e9
    for _ in range(5):
        p, _ = run_blur(tmp)
        line = [l for l in p.stderr.splitlines() if "cache hit" in l]
        assert line, p.stderr
        best = min(best, float(line[0].split("pipeline ready ")[1].split(" ms")[0]))
    assert best < 20, f"{best} ms"


def test_a_run_without_the_cache_writes_no_entry(tmp):
    p, y = run_blur(tmp, "--no-cache")
    assert "cache not used (--no-cache)" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(tmp, "xdg")), os.listdir(tmp)
    check_blur(tmp, y)
    p, _ = run_blur(tmp, "--dump=llvm")
    assert "cache not used" in p.stderr and not os.path.exists(os.path.join(tmp, "xdg"))


def stored(p):
    """the entry a verbose run stored or linked"""
    for mark in ("stored ", "cache hit: "):
        if mark in p.stderr:
            return p.stderr.split(mark)[1].split(" ")[0]
    raise AssertionError(p.stderr)


def damage_and_rerun(tmp, damage, reason):
    p, _ = run_blur(tmp)
    path = stored(p)
    name = os.path.basename(path)
    before = entries(tmp)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data = damage(data)
    with open(path, "wb") as f:
        f.write(data)
    p, y = run_blur(tmp, out="y2.npy")
    assert f"cache: ignoring {path}: {reason}" in p.stderr, p.stderr
    assert "cache miss" in p.stderr and "cache hit" not in p.stderr, p.stderr
    check_blur(tmp, y)
    # replaced by a good entry
    assert stored(p) == path and entries(tmp) == before
    p, y = run_blur(tmp, out="y3.npy")
    assert "cache hit" in p.stderr, p.stderr
    check_blur(tmp, y)


def test_a_flipped_byte_is_caught_by_the_checksum(tmp):
    def flip(d):
        d[HEADER + len(d[HEADER:]) // 2] ^= 0x20
        return d
    damage_and_rerun(tmp, flip, "corrupt (checksum)")


def test_a_truncated_entry_is_ignored(tmp):
    damage_and_rerun(tmp, lambda d: d[:len(d) - 100], "truncated or extended")
    damage_and_rerun(tmp, lambda d: d[:20], "truncated")
    damage_and_rerun(tmp, lambda d: d + b"\0", "truncated or extended")
    damage_and_rerun(tmp, lambda d: bytearray(), "truncated")


def test_a_wrong_magic_or_format_is_ignored(tmp):
    damage_and_rerun(tmp, lambda d: bytearray(b"\x7fELF\2\1\1\0") + d[8:], "not a convc cache entry")

    def version(d):
        struct.pack_into("<I", d, 8, FORMAT + 1)
        return d
    damage_and_rerun(tmp, version, "of another format")


def test_an_entry_for_another_key_is_not_used(tmp):
    """another script's entry, copied under this one's name"""
    with open(os.path.join(tmp, "other.conv"), "w") as f:
        f.write("pipeline blur {\n  input x: f32[H, W]\n  output y = -x\n}\n")
    p = convc(tmp, "run", "other.conv", "x=x.npy", "-o", "y=o.npy")
    assert p.returncode == 0, p.stderr
    [other] = entries(tmp)
    with open(os.path.join(cache_dir(tmp), other), "rb") as f:
        foreign = f.read()

    def swap(d):
        return bytearray(foreign)
    damage_and_rerun(tmp, swap, "made for another key")


def test_garbage_with_a_valid_checksum_is_never_run(tmp):
    """a header that checks out over an object that does not link: the
    pipeline is compiled instead"""
    def garbage(d):
        body = bytes(d[HEADER:HEADER + 64]) + os.urandom(len(d) - HEADER - 64)
        d = d[:HEADER] + body
        struct.pack_into("<Q", d, 40, xxhash.XXH3_64bits(body, len(body)))
        return d
    damage_and_rerun(tmp, garbage, "jit: ")


def test_object_sizes_that_do_not_add_up_are_never_used(tmp):
    """a payload whose first object claims more bytes than there are, or
    fewer (the rest is not a whole object), checksum made good"""
    def resize(delta):
        def f(d):
            body = bytearray(d[HEADER:])
            size = struct.unpack_from("<Q", body, 0)[0]
            struct.pack_into("<Q", body, 0, size + delta)
            d = d[:HEADER] + body
            struct.pack_into("<Q", d, 40, xxhash.XXH3_64bits(bytes(body), len(body)))
            return d
        return f
    damage_and_rerun(tmp, resize(1), "malformed (object sizes)")
    damage_and_rerun(tmp, resize(-3), "malformed (object sizes)")


def payload_objects(path):
    with open(path, "rb") as f:
        d = f.read()
    assert struct.unpack_from("<I", d, 8)[0] == FORMAT
    objs, at = [], HEADER
    while at < len(d):
        n = struct.unpack_from("<Q", d, at)[0]
        objs.append(d[at + 8:at + 8 + n])
        at += 8 + n
    assert at == len(d)
    return objs


def test_large_kernels_are_compiled_in_objects_of_their_own(tmp):
    """a ResNet block: its two convolutions' kernels are compiled on
    threads of their own into objects of their own, stored and linked
    with the module's; the same bits as the single module the JIT
    compiles for --dump (and as a hit), and the numbers of a NumPy
    reference"""
    with open(os.path.join(tmp, "block.conv"), "w") as f:
        f.write(BLOCK)
    rng = np.random.default_rng(11)
    arrays = {"x": rng.standard_normal((1, 64, 56, 56)), "w1": rng.standard_normal((64, 64, 3, 3)) / 24,
              "b1": rng.standard_normal(64), "w2": rng.standard_normal((64, 64, 3, 3)) / 24,
              "b2": rng.standard_normal(64)}
    for n, a in arrays.items():
        np.save(os.path.join(tmp, f"{n}.npy"), a.astype(np.float32))
    args = ["run", "-v", "block.conv"] + [f"{n}={n}.npy" for n in arrays]
    p1 = convc(tmp, *args, "-o", "y=y1.npy")
    assert p1.returncode == 0 and "cache miss" in p1.stderr, p1.stderr
    objs = payload_objects(stored(p1))
    assert len(objs) == 3 and all(o[:4] == b"\x7fELF" for o in objs), [len(o) for o in objs]
    p2 = convc(tmp, *args, "-o", "y=y2.npy")
    assert "cache hit" in p2.stderr, p2.stderr
    p3 = convc(tmp, *args, "--dump=asm", "-o", "y=y3.npy")
    assert p3.returncode == 0 and "cache not used" in p3.stderr, p3.stderr
    y1, y2, y3 = (np.load(os.path.join(tmp, f"y{i}.npy")) for i in (1, 2, 3))
    assert np.array_equal(y1.view(np.uint32), y2.view(np.uint32))
    assert np.array_equal(y1.view(np.uint32), y3.view(np.uint32))
    a = {n: np.load(os.path.join(tmp, f"{n}.npy")).astype(np.float64) for n in arrays}

    def conv(x, w, b):
        xp = np.pad(x[0], ((0, 0), (1, 1), (1, 1)))
        cols = np.array([[xp[:, i:i + 56, j:j + 56] for j in range(3)] for i in range(3)])
        return np.einsum("kcij,ijchw->khw", w, cols)[None] + b[None, :, None, None]
    h = np.maximum(conv(a["x"], a["w1"], a["b1"]), 0)
    ref = np.maximum(conv(h, a["w2"], a["b2"]) + a["x"], 0)
    assert y1.shape == ref.shape and np.allclose(y1, ref, rtol=1e-4, atol=1e-4), np.abs(y1 - ref).max()


def test_the_key_changes_with_whatever_changes_the_code(tmp):
    run_blur(tmp)
    seen = set(entries(tmp))
    assert len(seen) == 1

    def miss(*extra, what):
        p, y = run_blur(tmp, *extra)
        assert "cache miss" in p.stderr, (what, p.stderr)
        new = set(entries(tmp)) - seen
        assert len(new) == 1, (what, new)
        seen.update(new)
        return y

    with open(os.path.join(tmp, "blur.conv"), "a") as f:
        f.write("# a comment changes the text\n")
    check_blur(tmp, miss(what="script text"))
    k = np.load(os.path.join(tmp, "k.npy"))
    np.save(os.path.join(tmp, "k.npy"), (k * 2).astype(np.float32))
    y = miss(what="loaded file")
    check_blur(tmp, y)      # with the new weights
    miss("-O1", what="-O1")
    miss("--no-kernels", what="--no-kernels")
    miss("--method=direct", what="--method")
    miss("--target-cpu=x86-64-v3", what="cpu")
    miss("--target-cpu=x86-64-v2", what="another cpu")
    # the script's name as given is quoted by run-time checks: part of the key
    p = convc(tmp, "run", "-v", "./blur.conv", "x=x.npy", "-o", "y=y.npy")
    assert p.returncode == 0 and "cache miss" in p.stderr, p.stderr
    seen.update(entries(tmp))
    # and what does not change the code does not change the key
    for extra in (["--threads", "1"], ["--dump=schedule"], ["--target-cpu=x86-64-v3"]):
        p, y = run_blur(tmp, *extra, out="z.npy")
        assert "cache hit" in p.stderr, (extra, p.stderr)
    p = convc(tmp, "run", "-v", os.path.join(tmp, "blur.conv"), "x=x.npy", "-o", "y=y.npy")
    assert "cache miss" in p.stderr
    p = subprocess.run([CONVC, "run", "-v", "blur.conv", "x=x.npy", "-o", "y=y.npy"], cwd=tmp,
                       capture_output=True, text=True, env=env_for(tmp, CONVRT_NUM_THREADS="1"))
    assert "cache hit" in p.stderr, p.stderr


def test_a_cached_run_reports_the_same_errors(tmp):
    """a failed run-time check still points at the script's line"""
    with open(os.path.join(tmp, "small.conv"), "w") as f:
        f.write("pipeline small {\n  input img: f32[H, W]\n  output y = conv2d(img, box2d(3))\n}\n")
    np.save(os.path.join(tmp, "a29.npy"), np.zeros((2, 9), np.float32))
    np.save(os.path.join(tmp, "ok.npy"), np.zeros((5, 9), np.float32))
    want = ("small.conv:3:14: error: conv2d: output height (H + 0 + 0 - 1*(3-1) - 1)/1 + 1 = 0 "
            "is below 1 (H = 2)\n"
            "  output y = conv2d(img, box2d(3))\n"
            "             ^~~~~~~~~~~~~~~~~~~~~\n"
            "convc: note: img=a29.npy was read as f32[2, 9] (declared f32[H, W])\n")
    p = convc(tmp, "run", "small.conv", "img=a29.npy", "-o", "y=y.npy")
    assert p.returncode == 1 and p.stderr == want, p.stderr
    assert len(entries(tmp)) == 1
    p = convc(tmp, "run", "-v", "small.conv", "img=ok.npy", "-o", "y=y.npy")
    assert p.returncode == 0 and "cache hit" in p.stderr, p.stderr
    p = convc(tmp, "run", "small.conv", "img=a29.npy", "-o", "y=y.npy")
    assert p.returncode == 1 and p.stderr == want, p.stderr
    # and a script with an error is reported before the cache is looked at
    with open(os.path.join(tmp, "small.conv"), "w") as f:
        f.write("pipeline small {\n  input img: f32[H, W]\n  output y = conv2d(img, box2d(3)\n}\n")
    p = convc(tmp, "run", "small.conv", "img=ok.npy", "-o", "y=y.npy")
    assert p.returncode == 1 and p.stderr.startswith("small.conv:4:1: error:"), p.stderr


def test_cache_shows_and_clears(tmp):
    p = convc(tmp, "cache")
    assert p.returncode == 0 and p.stdout == f"{cache_dir(tmp)}: empty (not created yet)\n", p.stdout
    run_blur(tmp)
    run_blur(tmp, "-O2")
    size = sum(os.path.getsize(os.path.join(cache_dir(tmp), e)) for e in entries(tmp))
    with open(os.path.join(cache_dir(tmp), "unrelated.txt"), "w") as f:
        f.write("not ours")
    p = convc(tmp, "cache")
    assert p.returncode == 0 and p.stdout.startswith(f"{cache_dir(tmp)}: 2 entries, {size / 1e6:.1f} MB"), p.stdout
    p = convc(tmp, "cache", "clear")
    assert p.returncode == 0 and p.stdout == f"{cache_dir(tmp)}: removed 2 entries, {size / 1e6:.1f} MB\n", p.stdout
    assert entries(tmp) == [] and os.path.exists(os.path.join(cache_dir(tmp), "unrelated.txt"))
    p, _ = run_blur(tmp)
    assert "cache miss" in p.stderr
    p = convc(tmp, "cache", "purge")
    assert p.returncode == 2 and "usage: convc cache [clear]" in p.stderr, p.stderr


def test_where_the_cache_is(tmp):
    """XDG_CACHE_HOME when it is an absolute path, else ~/.cache"""
    home = os.path.join(tmp, "home")
    os.mkdir(home)
    run_blur(tmp, env=env_for(tmp, XDG_CACHE_HOME=os.path.join(tmp, "elsewhere", "deeper")))
    assert len(entries(tmp, os.path.join(tmp, "elsewhere", "deeper", "convc"))) == 1
    mode = os.stat(os.path.join(tmp, "elsewhere", "deeper")).st_mode
    assert stat.S_IMODE(mode) == 0o700, oct(mode)
    for xdg in (None, "", "relative/dir"):
        p, _ = run_blur(tmp, env=env_for(tmp, XDG_CACHE_HOME=xdg, HOME=home))
        assert os.path.join(home, ".cache", "convc") in p.stderr, p.stderr
    assert len(entries(tmp, os.path.join(home, ".cache", "convc"))) == 1
    p = convc(tmp, "cache", env=env_for(tmp, XDG_CACHE_HOME=None, HOME=home))
    assert p.stdout.startswith(os.path.join(home, ".cache", "convc") + ": 1 entry,"), p.stdout
    assert not os.path.exists(os.path.join(tmp, "xdg"))


def test_an_unusable_cache_directory_only_warns(tmp):
    with open(os.path.join(tmp, "file"), "w") as f:
        f.write("a file where the cache's parent should be")
    p, y = run_blur(tmp, env=env_for(tmp, XDG_CACHE_HOME=os.path.join(tmp, "file")))
    assert "convc: warning: not using the compile cache: cannot open" in p.stderr, p.stderr
    assert p.stderr.count("warning") == 1, p.stderr
    check_blur(tmp, y)
    # a directory others may write to is not trusted: its files would be run
    run_blur(tmp)
    os.chmod(cache_dir(tmp), 0o777)
    p, y = run_blur(tmp)
    assert "may be written by other users" in p.stderr and "cache hit" not in p.stderr, p.stderr
    check_blur(tmp, y)
    os.chmod(cache_dir(tmp), 0o700)
    p, _ = run_blur(tmp)
    assert "cache hit" in p.stderr and "warning" not in p.stderr, p.stderr


def test_processes_filling_one_entry_at_once_leave_a_good_one(tmp):
    procs = [subprocess.Popen([CONVC, "run", "-v", "blur.conv", "x=x.npy", "-o", f"y=y{i}.npy"], cwd=tmp,
                              env=env_for(tmp), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    for i, p in enumerate(procs):
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "warning" not in err, err
        check_blur(tmp, np.load(os.path.join(tmp, f"y{i}.npy")))
    assert len(entries(tmp)) == 1 and os.listdir(cache_dir(tmp)) == entries(tmp), os.listdir(cache_dir(tmp))
    p, _ = run_blur(tmp)
    assert "cache hit" in p.stderr, p.stderr


def test_the_least_recently_used_entries_are_evicted(tmp):
    """CONVC_CACHE_MAX_MB bounds the cache; a hit counts as a use"""
    sizes = {}
    for opt in ("-O0", "-O1", "-O2"):
        p, _ = run_blur(tmp, opt, env=env_for(tmp))
        sizes[opt] = p.stderr.split("stored ")[1].split(" ")[0]
    assert len(entries(tmp)) == 3
    time.sleep(0.01)
    run_blur(tmp, "-O0")      # a hit: now the most recently used
    total = sum(os.path.getsize(f) for f in sizes.values())
    limit = total * 0.9 / 1e6
    p, _ = run_blur(tmp, "-O3", env=env_for(tmp, CONVC_CACHE_MAX_MB=f"{limit:.6f}"))
    left = set(entries(tmp))
    assert os.path.basename(sizes["-O1"]) not in left, left      # the oldest use went first
    assert os.path.basename(sizes["-O0"]) in left or len(left) == 1, left
    assert sum(os.path.getsize(os.path.join(cache_dir(tmp), e)) for e in left) <= limit * 1e6
    p = convc(tmp, "run", "blur.conv", "x=x.npy", "-o", "y=y.npy", env=env_for(tmp, CONVC_CACHE_MAX_MB="x"))
    assert p.returncode == 0 and "CONVC_CACHE_MAX_MB" in p.stderr, p.stderr


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from testmain import main
    main(globals(), setup)
