#!/usr/bin/env python3
"""Write the seed corpora of the runtime's sound and .npz readers.

usage: make_format_seeds.py DIR     writes DIR/corpus-audio/ and DIR/corpus-npz/

Sound: short WAVs of every encoding libsndfile writes for WAV (8, 16, 24
and 32-bit PCM, float, double, mu-law, IMA ADPCM), mono and stereo, FLAC
and Ogg Vorbis, and the hostile ones: cut inside the data, cut inside the
header, a data chunk claiming 4 GB, a FLAC whose STREAMINFO claims 2^36
frames.  Archives: numpy.savez and savez_compressed with the key the fuzz
target asks for ("x"), several arrays, other dtypes, and damaged ones
(truncated, a flipped byte in the deflated data, an entry whose sizes lie).
Inputs the fuzzer finds later are added to the directories directly.
"""
import io
import os
import struct
import sys

import numpy as np
import soundfile as sf


def save(d, name, blob):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(blob)


def sound(x, rate, fmt, subtype):
    b = io.BytesIO()
    sf.write(b, x, rate, format=fmt, subtype=subtype)
    return b.getvalue()


def audio_seeds(d):
    t = np.arange(300) / 8000.0
    mono = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([mono, -mono], axis=1)
    seeds = {}
    for sub in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "IMA_ADPCM"):
        seeds[f"wav_{sub.lower()}"] = sound(mono, 8000, "WAV", sub)
    seeds["wav_stereo"] = sound(stereo, 44100, "WAV", "PCM_16")
    seeds["flac_16"] = sound(mono, 8000, "FLAC", "PCM_16")
    seeds["flac_24_stereo"] = sound(stereo, 48000, "FLAC", "PCM_24")
    seeds["ogg_vorbis"] = sound(stereo, 22050, "OGG", "VORBIS")
    w = seeds["wav_pcm_16"]
    seeds["wav_cut_in_data"] = w[:len(w) // 2]
    seeds["wav_cut_in_header"] = w[:30]
    k = w.index(b"data")
    seeds["wav_data_4gb"] = w[:k + 4] + struct.pack("<I", 0xFFFFFFF0) + w[k + 8:]
    f = seeds["flac_16"]
    # STREAMINFO: 4 bytes magic, 4 block header, then 18 bytes before the
    # 36-bit total-samples field: set all of it
    si = bytearray(f)
    si[8 + 13] |= 0x0F
    si[8 + 14:8 + 18] = b"\xff\xff\xff\xff"
    seeds["flac_frames_2p36"] = bytes(si)
    seeds["flac_cut"] = f[:len(f) // 2]
    for name, blob in seeds.items():
        save(d, name, blob)


def npz_seeds(d):
    def npz(save_fn, **arrays):
        b = io.BytesIO()
        save_fn(b, **arrays)
        return b.getvalue()
    x = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    seeds = {
        "stored_f8": npz(np.savez, x=x),
        "deflated_f4": npz(np.savez_compressed, x=x.astype(np.float32)),
        "several": npz(np.savez, x=np.arange(5, dtype=">i2"), w=np.ones((2, 2), bool), z=np.zeros(0)),
        "fortran_u8": npz(np.savez_compressed, x=np.asfortranarray(np.arange(12, dtype=np.uint8).reshape(3, 4))),
        "other_key": npz(np.savez, y=x),
    }
    c = seeds["deflated_f4"]
    seeds["truncated"] = c[:len(c) // 2]
    bad = bytearray(c)
    bad[60] ^= 0x5A
    seeds["flipped_byte"] = bytes(bad)
    # the central directory's uncompressed size of the first entry, inflated
    s = bytearray(seeds["stored_f8"])
    k = s.index(b"PK\x01\x02")
    s[k + 24:k + 28] = struct.pack("<I", 0x7FFFFFFF)
    seeds["size_lies"] = bytes(s)
    for name, blob in seeds.items():
        save(d, name, blob)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    audio_seeds(os.path.join(sys.argv[1], "corpus-audio"))
    npz_seeds(os.path.join(sys.argv[1], "corpus-npz"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
