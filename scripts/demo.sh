#!/usr/bin/env bash
# Set up, build, and run convc on the bundled real data:
#   Sobel edge magnitude of a photograph  -> out/ascent_edges.png (and .npy)
#   the Sobel pipeline as a picture       -> out/sobel_edges.svg
#   Savitzky-Golay smoothing of an ECG    -> out/ecg_smooth.npy
#   convolution reverb of speech          -> out/speech_reverb.wav
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Set-up and build print only on failure (the whole log then).
quietly() {
    local log
    log=$(mktemp)
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "demo: '$*' failed" >&2
        exit 1
    fi
    rm -f "$log"
}
echo "== setting up and building (scripts/setup.sh, cmake) ..."
quietly scripts/setup.sh
quietly cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
quietly cmake --build build --target convc

convc=build/convc
mkdir -p out
rm -f out/ascent_edges.png out/ascent_edges.npy out/ecg_smooth.npy out/sobel_edges.svg out/speech_reverb.wav

echo
echo "== $convc check examples/sobel_edges.conv H=512 W=512"
"$convc" check examples/sobel_edges.conv H=512 W=512
echo
echo "== $convc run examples/sobel_edges.conv img=examples/data/ascent.pgm -o mag=out/ascent_edges.png:auto -o mag=out/ascent_edges.npy"
"$convc" run examples/sobel_edges.conv img=examples/data/ascent.pgm -o mag=out/ascent_edges.png:auto -o mag=out/ascent_edges.npy
echo
echo "== $convc graph examples/sobel_edges.conv -o out/sobel_edges.svg"
"$convc" graph examples/sobel_edges.conv -o out/sobel_edges.svg
echo
echo "== $convc run examples/ecg_savgol.conv s=examples/data/ecg.npy -o y=out/ecg_smooth.npy"
"$convc" run examples/ecg_savgol.conv s=examples/data/ecg.npy -o y=out/ecg_smooth.npy
echo
echo "== $convc run examples/reverb.conv speech=examples/data/speech.wav room=examples/data/room_ir.flac -o wet=out/speech_reverb.wav"
"$convc" run examples/reverb.conv speech=examples/data/speech.wav room=examples/data/room_ir.flac \
    -o wet=out/speech_reverb.wav
echo

/usr/bin/python3 - <<'PY'
import os, struct, xml.etree.ElementTree as ET
import numpy as np
import soundfile

png = "out/ascent_edges.png"
with open(png, "rb") as f:
    head = f.read(33)
assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
w, h, depth, ctype = struct.unpack(">IIBB", head[16:26])
kind = {0: "gray", 2: "RGB"}.get(ctype, f"colour type {ctype}")
mag = np.load("out/ascent_edges.npy")
print(f"wrote {png}: {w}x{h} {depth}-bit {kind} PNG, {os.path.getsize(png)} bytes "
      f"(edge magnitude of examples/data/ascent.pgm, its range {mag.min():.2f}..{mag.max():.2f} shown as 0..255), "
      f"and the values as out/ascent_edges.npy")

s = np.load("examples/data/ecg.npy").astype(np.float64)
y = np.load("out/ecg_smooth.npy")
rough = lambda v: float(np.sqrt(np.mean(np.diff(v) ** 2)))
print(f"wrote out/ecg_smooth.npy: {y.dtype}{list(y.shape)}, min {y.min():.3f} mV, max {y.max():.3f} mV; "
      f"sample-to-sample RMS change {rough(s):.4f} mV -> {rough(y):.4f} mV")

svg = "out/sobel_edges.svg"
nodes = [g for g in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
print(f"wrote {svg}: the stage graph of examples/sobel_edges.conv, {len(nodes)} boxes, "
      f"{os.path.getsize(svg)} bytes (open it in a browser)")

wet, rate = soundfile.read("out/speech_reverb.wav", dtype="float32")
dry, _ = soundfile.read("examples/data/speech.wav", dtype="float32")
print(f"wrote out/speech_reverb.wav: {len(wet) / rate:.2f} s at {rate} Hz "
      f"(the {len(dry) / rate:.2f} s of examples/data/speech.wav in the room of examples/data/room_ir.flac; "
      f"peak {np.abs(wet).max():.2f}); listen to it with any audio player")
PY
