#!/usr/bin/env python3
"""convc graph: the stage graph as SVG, PNG or DOT through Graphviz, each
stage labelled as `convc check` lists it, fused stages boxed together, the
target checked first and written whole or not at all.
usage: test_graph.py CONVC [TEST ...]"""
import os, re, subprocess, sys, tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tables
from tables import CNN, SOBEL

CONVC = os.path.abspath(sys.argv[1])
SVG = "{http://www.w3.org/2000/svg}"



def convc(*args, cwd):
    return subprocess.run([CONVC, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def setup(tmp):
    for name, text in (("cnn.conv", CNN), ("sobel.conv", SOBEL)):
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)


def check_rows(tmp, *args):
    """The stage table of `convc check`: (line, name, stage, shape, MACs) per row."""
    return [(r["line"], r["name"].replace(" (out)", ""), r["stage"], r["shape"], r["macs"])
            for r in tables.check_rows(CONVC, tmp, *args, "--target-cpu=x86-64-v4")]


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", text)]


def bbox(points):
    xs, ys = points[0::2], points[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def svg_graph(path):
    """Nodes {title: (text lines, (x, y) of the first line)} and clusters
    {title: (label lines, bbox)} of an SVG written by Graphviz."""
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg", root.tag
    nodes, clusters = {}, {}
    for g in root.iter(SVG + "g"):
        kind = g.get("class")
        if kind not in ("node", "cluster"):
            continue
        title = g.find(SVG + "title").text
        texts = list(g.iter(SVG + "text"))
        lines = [t.text for t in texts]
        if kind == "node":
            nodes[title] = (lines, (float(texts[0].get("x")), float(texts[0].get("y"))))
        else:
            shape = g.find(SVG + "path")
            pts = numbers(shape.get("d")) if shape is not None else numbers(g.find(SVG + "polygon").get("points"))
            clusters[title] = (lines, bbox(pts))
    return nodes, clusters


def assert_no_file(tmp, before):
    after = sorted(os.listdir(tmp))
    assert after == before, (before, after)


def test_svg_labels_each_stage_as_the_check_table(tmp):
    p = convc("graph", "cnn.conv", "-o", "cnn.svg", "--target-cpu=x86-64-v4", cwd=tmp)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    nodes, _ = svg_graph(os.path.join(tmp, "cnn.svg"))
    rows = check_rows(tmp, "cnn.conv")
    assert len(nodes) == len(rows) == 8, (nodes, rows)
    # every row of the check table is one node: its line, stage text, shape, MACs
    for line, name, stage, shape, macs in rows:
        first = f"line {line}: input {name}" if stage == "input" else None
        hits = [n for n, _ in nodes.values()
                if (n[0] == first if first else n[0].startswith(f"line {line}: ") and n[0].endswith(stage))
                and n[1] == shape]
        assert len(hits) == 1, (line, stage, shape, nodes)
        if macs != "-":
            assert hits[0][2].startswith(macs + " MACs"), (hits, macs)
    assert nodes["n4"][0] == ["line 6: conv2d 3x3 p1", "[16, 32, 32]", "1,179,648 MACs, direct"], nodes["n4"]
    assert nodes["n7"][0] == ["line 6: output y = conv1x1", "[4, 16, 16]", "16,384 MACs, direct"], nodes["n7"]
    assert nodes["n0"][0] == ["line 2: input x", "[8, 32, 32]"], nodes["n0"]


def inside(xy, box, margin=0):
    return box[0] - margin <= xy[0] <= box[2] + margin and box[1] - margin <= xy[1] <= box[3] + margin


def test_svg_boxes_the_fused_stages_together(tmp):
    p = convc("graph", "cnn.conv", "-o", "cnn.svg", "--target-cpu=x86-64-v4", cwd=tmp)
    assert p.returncode == 0, p.stderr
    nodes, clusters = svg_graph(os.path.join(tmp, "cnn.svg"))
    assert list(clusters) == ["cluster_4"], clusters
    label, box = clusters["cluster_4"]
    assert label == ["fused: one loop nest (epilogue, pool on tiles)"], label
    # the convolution, its relu and the pool on its tiles inside; the rest out
    for title, (lines, xy) in nodes.items():
        want = title in ("n4", "n5", "n6")
        assert inside(xy, box) == want, (title, lines, xy, box)
    # nothing is fused in the reference nests
    p = convc("graph", "cnn.conv", "-o", "ref.svg", "--no-kernels", cwd=tmp)
    assert p.returncode == 0, p.stderr
    nodes, clusters = svg_graph(os.path.join(tmp, "ref.svg"))
    assert clusters == {} and len(nodes) == 8, clusters


def test_png_is_a_png(tmp):
    p = convc("graph", "sobel.conv", "H=512", "W=512", "-o", "sobel.png", cwd=tmp)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    # one line says where the picture went and of how many stages (as check counts them)
    stages = len([r for r in check_rows(tmp, "sobel.conv") if r[2] != "input" and not r[2].startswith("const")])
    assert p.stdout == f"convc: wrote sobel.png (png, {stages} stages)\n", p.stdout
    q = convc("graph", "sobel.conv", "-q", "-o", "quiet.png", cwd=tmp)
    assert q.returncode == 0 and q.stdout == "" and os.path.getsize(os.path.join(tmp, "quiet.png")) > 0
    with open(os.path.join(tmp, "sobel.png"), "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 200 < width < 5000 and 200 < height < 5000, (width, height)
    assert data[-8:-4] == b"IEND", data[-12:]
    # the extension chooses, whatever its case
    p = convc("graph", "sobel.conv", "-o", "SOBEL.SVG", cwd=tmp)
    assert p.returncode == 0, p.stderr
    ET.parse(os.path.join(tmp, "SOBEL.SVG"))


def test_dot_text_is_what_graphviz_draws(tmp):
    p = convc("graph", "sobel.conv", "-o", "sobel.dot", cwd=tmp)
    assert p.returncode == 0, p.stderr
    text = open(os.path.join(tmp, "sobel.dot")).read()
    assert text.startswith('digraph "sobel" {') and text.endswith("}\n"), text
    assert "H*W*9 MACs, direct" in text, text        # size symbols unbound
    d = subprocess.run(["dot", "-Tsvg", "sobel.dot", "-o", "tool.svg"], cwd=tmp, capture_output=True, text=True)
    assert d.returncode == 0, d.stderr
    p = convc("graph", "sobel.conv", "-o", "lib.svg", cwd=tmp)
    assert p.returncode == 0, p.stderr
    tool, _ = svg_graph(os.path.join(tmp, "tool.svg"))
    lib, _ = svg_graph(os.path.join(tmp, "lib.svg"))
    assert {k: v[0] for k, v in tool.items()} == {k: v[0] for k, v in lib.items()}, (tool, lib)
    assert lib["n2"][0] == ["line 3: gx = conv2d 3x3 p1 replicate", "[H, W]", "H*W*9 MACs, direct"], lib["n2"]
    assert lib["n8"][0] == ["line 5: output mag = sqrt", "[H, W]"], lib["n8"]
    # bound symbols give numbers
    p = convc("graph", "sobel.conv", "H=512", "W=512", "-o", "bound.svg", cwd=tmp)
    assert p.returncode == 0, p.stderr
    bound, _ = svg_graph(os.path.join(tmp, "bound.svg"))
    assert bound["n2"][0][1:] == ["[512, 512]", "2,359,296 MACs, direct"], bound["n2"]


def test_bad_targets_are_refused_before_any_work(tmp):
    before = sorted(os.listdir(tmp))
    cases = [
        (["-o", "pic.jpg"], "convc: error: -o 'pic.jpg': unknown picture format '.jpg' (use .svg, .png or .dot)\n"),
        (["-o", "pic"], "convc: error: -o 'pic' has no extension to choose the format by (.svg, .png or .dot)\n"),
        ([], "convc: error: graph needs -o FILE.svg, FILE.png or FILE.dot\n"),
        (["-o", "a.svg", "-o", "b.svg"], "convc: error: -o is given twice\n"),
        (["img=a.npy", "-o", "a.svg"], "convc: error: input 'img': cannot load 'a.npy': No such file or directory\n"),
        (["-o", "nodir/a.svg"], None),
        (["-o", "a.svg", "--profile"], "convc: error: graph has no option '--profile' (see convc graph --help)\n"),
    ]
    for args, message in cases:
        p = convc("graph", "sobel.conv", *args, cwd=tmp)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        if message:
            assert p.stderr == message, (args, p.stderr)
        else:
            assert "nodir" in p.stderr and p.stderr.startswith("convc: error: "), p.stderr
        assert_no_file(tmp, before)
    # the script itself, through a link with the right extension
    os.symlink("sobel.conv", os.path.join(tmp, "link.svg"))
    p = convc("graph", "sobel.conv", "-o", "link.svg", cwd=tmp)
    assert p.returncode == 1 and "would overwrite the script 'sobel.conv'" in p.stderr, p.stderr
    assert open(os.path.join(tmp, "sobel.conv")).read() == SOBEL
    # a script with an error leaves an existing picture as it was
    with open(os.path.join(tmp, "old.svg"), "w") as f:
        f.write("old")
    with open(os.path.join(tmp, "bad.conv"), "w") as f:
        f.write("pipeline bad {\n  input x: f32[4]\n  output y = relu(z)\n}\n")
    p = convc("graph", "bad.conv", "-o", "old.svg", cwd=tmp)
    assert p.returncode == 1 and "bad.conv:3:19: error: undefined name 'z'" in p.stderr, p.stderr
    assert open(os.path.join(tmp, "old.svg")).read() == "old"


def test_a_graph_too_large_to_lay_out_is_refused_but_its_text_is_written(tmp):
    n = 5100
    lines = ["pipeline big {", "  input x: f32[4]"] + [f"  t{i} = relu({'x' if i == 0 else f't{i - 1}'})"
                                                        for i in range(n)] + [f"  output y = t{n - 1}", "}"]
    with open(os.path.join(tmp, "big.conv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    before = sorted(os.listdir(tmp))
    p = convc("graph", "big.conv", "-o", "big.svg", cwd=tmp)
    assert p.returncode == 1 and "the pipeline has 5101 nodes; Graphviz draws at most 5000" in p.stderr, p.stderr
    assert_no_file(tmp, before)
    p = convc("graph", "big.conv", "-o", "big.dot", cwd=tmp)
    assert p.returncode == 0, p.stderr
    text = open(os.path.join(tmp, "big.dot")).read()
    assert text.count(" -> ") == n and text.count("label=\"line ") == n + 1, text[:500]


if __name__ == "__main__":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from testmain import main
    main(globals(), setup)
