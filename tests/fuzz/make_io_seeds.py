#!/usr/bin/env python3
"""Write the seed corpora of the runtime's file readers.

usage: make_io_seeds.py DIR     writes DIR/corpus-npy/ and DIR/corpus-image/

The seeds are small valid files of every layout the readers accept, and the
hostile ones an audit made by hand: headers that promise far more data than
the file holds (a 39-byte PGM of 100000 x 100000 pixels, a 68-byte PNG of
1000000 x 1000000), truncated files, a palette PNG with transparency, 16-bit
samples, interlacing, bad checksums.  PNGs are assembled chunk by chunk so
that no image library is needed.  Inputs the fuzzer found later are added
to the corpus directories directly.
"""
import os
import struct
import sys
import zlib


def npy(header, data=b"", version=1, pad=True):
    h = header.encode("latin1")
    lensize = 2 if version == 1 else 4
    if pad:
        total = 8 + lensize + len(h) + 1
        h += b" " * ((64 - total % 64) % 64)
    h += b"\n"
    ln = struct.pack("<H" if version == 1 else "<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + h + data


def f32(*v):
    return struct.pack(f"<{len(v)}f", *v)


def f64(*v):
    return struct.pack(f"<{len(v)}d", *v)


NPY = {
    "f4_2x3": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", f32(1, 2, 3, 4, 5, 6)),
    "f8_3": npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64(0.5, -1, 1e300)),
    "rank0": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f32(7)),
    "empty_0x4": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }"),
    "rank8": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 2), }", f32(1, 2)),
    "v2_header": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32(1, 2), version=2),
    "v3_header": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f32(3), version=3),
    "python2_long": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 1L), }", f32(1, 2)),
    "unpadded": npy("{'shape': (1,), 'fortran_order': False, 'descr': '<f4'}", f32(9), pad=False),
    "huge_shape_small_file": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }",
                                 f32(1, 2)),
    "overflowing_shape": npy("{'descr': '<f8', 'fortran_order': False, "
                             "'shape': (4611686018427387904, 4), }"),
    "truncated_data": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f32(1, 2, 3)),
    "trailing_data": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f32(1, 2)),
    "fortran_order": npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f32(1, 2, 3, 4)),
    "big_endian": npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", f32(1)),
    "int_dtype": npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", b"\0\0\0\1"),
    "rank9": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", f32(1)),
    "nul_in_header": npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\0", f32(1)),
    "no_newline": b"\x93NUMPY\x01\x00\x08\x00{'a': 1}" + f32(1),
    "header_len_huge": b"\x93NUMPY\x02\x00\xff\xff\xff\x7f{",
    "truncated_magic": b"\x93NUM",
    "bad_version": b"\x93NUMPY\x04\x00\x04\x00{} \n",
}


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xffffffff)


SIG = b"\x89PNG\r\n\x1a\n"


def png(w, h, depth, color, rows, interlace=0, extra=(), idat=None):
    """rows: raw scanlines without filter bytes (filter 0 is added)."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace))
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + r for r in rows), 9)
    out = SIG + ihdr
    for kind, data in extra:
        out += chunk(kind, data)
    return out + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def adam7_gray8(w, h, pixels):
    """The IDAT of an interlaced 8-bit gray image: the seven passes' rows."""
    raw = b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):
        xs = range(x0, w, dx)
        for y in range(y0, h, dy):
            if xs:
                raw += b"\0" + bytes(pixels[y * w + x] for x in xs)
    return zlib.compress(raw, 9)


IMAGE = {
    "pgm_p5_3x2": b"P5\n3 2\n255\n" + bytes([0, 128, 255, 1, 2, 3]),
    "pgm_p5_16bit": b"P5\n2 1\n65535\n" + bytes([0xff, 0xff, 0x00, 0x01]),
    "pgm_p2_plain": b"P2\n# a comment\n2 2\n15\n0 5\n10 15\n",
    "ppm_p6_2x1": b"P6 2 1 255\n" + bytes([255, 0, 0, 0, 255, 0]),
    "ppm_p3_plain": b"P3\n1 1\n255\n1 2 3\n",
    # 39 bytes that claim 100000 x 100000 pixels (10 GB as floats)
    "pgm_huge_header": b"P5\n100000 100000\n255\n" + b"\0" * 18,
    "pgm_truncated": b"P5\n4 4\n255\n" + b"\1" * 7,
    "ppm_truncated_16bit": b"P6\n2 2\n1000\n" + b"\0\1" * 5,
    "pgm_sample_above_maxval": b"P5\n1 1\n100\n\xff",
    "png_gray8_3x2": png(3, 2, 8, 0, [bytes([0, 128, 255]), bytes([1, 2, 3])]),
    "png_gray1_8x1": png(8, 1, 1, 0, [bytes([0xa5])]),
    "png_gray16_2x1": png(2, 1, 16, 0, [bytes([0xff, 0xff, 0, 1])]),
    "png_rgb8_2x1": png(2, 1, 8, 2, [bytes([255, 0, 0, 0, 0, 255])]),
    "png_rgb16_1x1": png(1, 1, 16, 2, [bytes([0, 1, 0, 2, 0, 3])]),
    "png_gray_alpha_2x1": png(2, 1, 8, 4, [bytes([51, 0, 255, 128])]),
    "png_rgba_1x2": png(1, 2, 8, 6, [bytes([1, 2, 3, 255]), bytes([4, 5, 6, 0])]),
    "png_palette_2bit": png(4, 1, 2, 3, [bytes([0x1b])],
                            extra=[(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]))]),
    "png_palette_trns": png(2, 1, 8, 3, [bytes([0, 1])],
                            extra=[(b"PLTE", bytes([255, 0, 0, 0, 0, 255])), (b"tRNS", bytes([0, 255]))]),
    "png_gray_trns": png(2, 1, 8, 0, [bytes([7, 8])], extra=[(b"tRNS", struct.pack(">H", 7))]),
    "png_rgb_trns": png(1, 1, 8, 2, [bytes([1, 2, 3])], extra=[(b"tRNS", struct.pack(">HHH", 1, 2, 3))]),
    "png_interlaced_3x3": png(3, 3, 8, 0, [], interlace=1, idat=adam7_gray8(3, 3, list(range(10, 100, 10)))),
    "png_text_chunks": png(1, 1, 8, 0, [b"\x80"],
                           extra=[(b"tEXt", b"Comment\0hello"),
                                  (b"zTXt", b"Big\0\0" + zlib.compress(b"x" * 100000, 9))]),
    # 68 bytes whose IHDR claims 1000000 x 1000000 pixels
    "png_huge_ihdr": png(1000000, 1000000, 8, 0, [], idat=zlib.compress(b"\0" * 8, 9)),
    "png_bad_crc": (lambda b: b[:29] + b"\0\0\0\0" + b[33:])(png(1, 1, 8, 0, [b"\x10"])),
    "png_truncated": png(4, 4, 8, 2, [bytes(range(12))] * 4)[:60],
    "png_no_idat": SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) + chunk(b"IEND", b""),
    "png_bad_depth": png(1, 1, 7, 0, [b"\0"]),
}


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    for sub, files in (("corpus-npy", NPY), ("corpus-image", IMAGE)):
        d = os.path.join(sys.argv[1], sub)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, f"seed_{name}"), "wb") as f:
                f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
