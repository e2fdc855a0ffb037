#!/usr/bin/env python3
"""Write the small .npy inputs used by the examples (fixed seeds, float32, C order).

    /usr/bin/python3 examples/data/make_data.py

The real data (ascent.pgm, face.ppm, ecg.npy) is copied, not generated; see
examples/README.md. Running this again rewrites the same bytes.
"""
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def save(name, a):
    a = np.ascontiguousarray(a, dtype=np.float32)
    np.save(os.path.join(HERE, name), a)
    print(f"{name:28s} {str(list(a.shape)):18s} {a.nbytes:8d} bytes")


def main():
    # cs231n_conv: the CS231n demo's sizes, small integer values as in the demo.
    rng = np.random.default_rng(231)
    save("cs231n_x.npy", rng.integers(0, 3, size=(3, 5, 5)))
    save("cs231n_w.npy", rng.integers(-1, 2, size=(2, 3, 3, 3)))
    save("cs231n_b.npy", [1, 0])

    # conv_then_pool: an 11x11 image.
    rng = np.random.default_rng(11)
    save("pool_x.npy", rng.standard_normal((11, 11)))

    # pointwise_192_to_32: a 192-channel 28x28 feature map, 32 filters.
    rng = np.random.default_rng(192)
    save("pointwise_x.npy", rng.standard_normal((192, 28, 28)))
    save("pointwise_w.npy", rng.standard_normal((32, 192)) / np.sqrt(192))
    save("pointwise_b.npy", 0.1 * rng.standard_normal(32))

    # dilated: one 15x15 channel, one 3x3 filter.
    rng = np.random.default_rng(2)
    save("dilated_x.npy", rng.standard_normal((1, 15, 15)))
    save("dilated_w.npy", rng.standard_normal((1, 1, 3, 3)))

    # by_hand_1d: x = (0, 1, 2, 3, 4).
    save("by_hand_x.npy", np.arange(5))

    # dropped_ball: where a dropped ball lands, as a distance in whole units
    # (a discretised half-normal for the first drop, a discretised
    # exponential for the second); both are probability vectors.
    d = np.arange(12, dtype=np.float64)
    f = np.exp(-0.5 * (d / 4.0) ** 2)
    g = np.exp(-np.arange(8, dtype=np.float64) / 2.0)
    save("ball_f.npy", f / f.sum())
    save("ball_g.npy", g / g.sum())

    # cnn_block: an 8-channel 32x32 map through 16 3x3 filters and a 1x1 to 4.
    rng = np.random.default_rng(64)
    save("cnn_x.npy", rng.standard_normal((8, 32, 32)))
    save("cnn_w1.npy", rng.standard_normal((16, 8, 3, 3)) / np.sqrt(8 * 9))
    save("cnn_b1.npy", 0.1 * rng.standard_normal(16))
    save("cnn_w2.npy", rng.standard_normal((4, 16)) / 4.0)


if __name__ == "__main__":
    main()
