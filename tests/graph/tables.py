"""Reading the tables convc prints: the stage table of `convc check` and the
profile of `convc run --profile` (for test_graph.py and test_profile.py),
and the two scripts both files draw and profile."""
import re
import subprocess

CNN = """pipeline block {
  input x: f32[8, 32, 32]
  input w1: f32[16, 8, 3, 3]
  input b1: f32[16]
  input w2: f32[4, 16]
  output y = x |> conv2d(w1, bias=b1, pad=1) |> relu |> maxpool2d(2) |> conv1x1(w2)
}
"""
SOBEL = """pipeline sobel {
  input img: f32[H, W]
  gx = conv2d(img, sobel_x, pad=same, pad_mode=replicate)
  gy = conv2d(img, sobel_y, pad=same, pad_mode=replicate)
  output mag = sqrt(gx * gx + gy * gy)
}
"""


def check_rows(convc, cwd, *args):
    """The rows of `convc check`: dicts of line, name (as printed, "y (out)"),
    stage, shape, macs (text)."""
    p = subprocess.run([convc, "check", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    head = next(l for l in lines if l.strip().startswith("line"))
    i_name, i_stage, i_shape, i_rf = (head.index(w) for w in ("name", "stage", "output shape", "receptive"))
    rows = []
    for l in lines[lines.index(head) + 1:]:
        if not l.strip():
            break
        shape = l[i_shape:l.index("]", i_shape) + 1]
        rows.append(dict(line=int(l[:i_name]), name=l[i_name:i_stage].strip(), stage=l[i_stage:i_shape].strip(),
                         shape=shape, macs=l[i_shape + len(shape):i_rf].strip()))
    return rows


ROW = re.compile(r"^(.*?)\s{2,}(in #\d+|not computed|\d+\.\d+)(?:\s+(\d+\.\d+%|-))?"
                 r"(?:\s+(\S+)\s+(\S+))?\s*$")
PEAK = re.compile(r"FMA peak: ([\d.]+) GFLOP/s on (\d+) threads? \(([\d.]+) on one\), measured now: "
                  r"(\d+) independent chains of (\d+)-bit single-precision FMAs per thread")


def parse_profile(out):
    """The profile table: rows (dicts of num, line, name, stage, when
    ("0.0123", "in #3", "not computed"), share, gflops, peak as text), the
    row of what the call did besides the stages (ms, share), the phases in
    ms, and the peak line's numbers."""
    lines = out.splitlines()
    hi = next(i for i, l in enumerate(lines) if l.split()[:2] == ["#", "line"])
    head = lines[hi]
    i_name, i_stage = head.index(" name ") + 1, head.index(" stage ") + 1
    rows, rest = [], None
    for l in lines[hi + 1:]:
        if not l.strip():
            break
        m = ROW.match(l[i_stage:])
        assert m, l
        stage, when, share, gflops, peak = m.groups()
        if not l[:i_stage].strip():
            rest = (float(when), float(share[:-1]))
            continue
        num, line = l[:i_name].split()
        rows.append(dict(num=int(num), line=int(line), name=l[i_name:i_stage].strip(), stage=stage, when=when,
                         share=share, gflops=gflops, peak=peak))
    phases = {m.group(1): float(m.group(2))
              for m in re.finditer(r"^  (run|compile|load|save|other|total)\s+([\d.]+) ms", out, re.M)}
    m = PEAK.search(out)
    assert m, out
    peak = dict(gflops=float(m.group(1)), threads=int(m.group(2)), one=float(m.group(3)),
                chains=int(m.group(4)), bits=int(m.group(5)))
    return rows, rest, phases, peak
