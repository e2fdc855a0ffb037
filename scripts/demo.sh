#!/usr/bin/env bash
# Set up, build, and run convc on the bundled real data:
#   Sobel edge magnitude of a photograph  -> out/ascent_edges.png
#   Savitzky-Golay smoothing of an ECG    -> out/ecg_smooth.npy
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build --target convc

convc=build/convc
mkdir -p out
rm -f out/ascent_edges.png out/ecg_smooth.npy

echo
echo "== $convc check examples/sobel_edges.conv H=512 W=512"
"$convc" check examples/sobel_edges.conv H=512 W=512
echo
echo "== $convc run examples/sobel_edges.conv img=examples/data/ascent.pgm -o mag=out/ascent_edges.png"
"$convc" run examples/sobel_edges.conv img=examples/data/ascent.pgm -o mag=out/ascent_edges.png
echo
echo "== $convc run examples/ecg_savgol.conv s=examples/data/ecg.npy -o y=out/ecg_smooth.npy"
"$convc" run examples/ecg_savgol.conv s=examples/data/ecg.npy -o y=out/ecg_smooth.npy
echo

/usr/bin/python3 - <<'PY'
import os, struct
import numpy as np

png = "out/ascent_edges.png"
with open(png, "rb") as f:
    head = f.read(33)
assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
w, h, depth, ctype = struct.unpack(">IIBB", head[16:26])
kind = {0: "gray", 2: "RGB"}.get(ctype, f"colour type {ctype}")
print(f"wrote {png}: {w}x{h} {depth}-bit {kind} PNG, {os.path.getsize(png)} bytes "
      f"(edge magnitude of examples/data/ascent.pgm)")

s = np.load("examples/data/ecg.npy").astype(np.float64)
y = np.load("out/ecg_smooth.npy")
rough = lambda v: float(np.sqrt(np.mean(np.diff(v) ** 2)))
print(f"wrote out/ecg_smooth.npy: {y.dtype}{list(y.shape)}, min {y.min():.3f} mV, max {y.max():.3f} mV; "
      f"sample-to-sample RMS change {rough(s):.4f} mV -> {rough(y):.4f} mV")
PY
