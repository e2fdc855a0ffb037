#!/usr/bin/env python3
"""Kernel tests: stages computed by vector micro-kernels against the scalar loop nests.

usage: kernels.py CONVC --group G [--seed S] [--keep DIR] [-v]
       kernels.py CONVC --many N [--seed S] [--keep DIR] [-v]
       kernels.py --list

The contract of a micro-kernel is that its results are bitwise identical to
the reference scalar nest's on the same target CPU (docs/design.md).  Each
pipeline built here is run four times:

  convc run ... --no-kernels                          reference, native CPU
  convc run ... --dump=schedule                       kernels, native CPU
  convc run ... --target-cpu=x86-64-v3 --no-kernels   reference, AVX2
  convc run ... --target-cpu=x86-64-v3 --dump=schedule  kernels, AVX2

and checked three ways:
  * every output of the kernel run has the same bits as the reference run of
    the same target (two NaNs count as equal whatever their payload);
  * the schedule says each stage got the kernel the size model below expects
    of passes/kernels.c and passes/pool.c for that target (conv-plane;
    conv-rows on x86-64-v3 for kernels with column taps and known row widths,
    and on both targets for depthwise layers at stride 1 of known sizes;
    conv-chan; pool-rows; scalar past the kernels' limits), with its register block,
    its input in phase planes or not, the pool fused into its tiles and the
    pooled rows a work item makes (else the sizes chosen here would not hit
    the tails they are meant to hit), and the elementwise stages fused into
    it that the case expects;
  * both reference runs agree with an independent float64 NumPy computation:
    |got - ref| <= 1e-4 * (|ref| + magnitude), where the magnitude is the same
    computation on absolute values (the sum of |terms|), so the bound is
    relative to the size of what was summed; a non-finite reference must be
    matched exactly where IEEE arithmetic decides it.

Pipelines are made of independent units (a stage, its inputs and what follows
it).  A unit is one call of a stage-kind generator (STAGE_KINDS) plus an
epilogue; a new kind of stage a kernel handles is added by writing its
generator and registering it there and in a group.  When an output differs,
its unit is run again alone and printed as a minimal script with the exact
command lines; --keep DIR also saves it (script.conv, in_*.npy, repro.sh).

  --group G   one deterministic group of cases (see --list); ctest runs each
              as kernels.<G>
  --many N    N random pipelines for seed S (scripts/fuzz-kernels.sh runs this
              over many seeds); same checks
  --seed S    seed of the random choices (default 1)
  -v          print every pipeline and its units

The last line reads `N pipelines (M stages): P passed, F failed`.
"""
import argparse, os, re, resource, shutil, subprocess, sys, tempfile, time

import numpy as np

RTOL = 1e-4
V3 = "x86-64-v3"

# ---------------------------------------------------------------------------
# size model: what passes/kernels.c and passes/pool.c choose for a stage, by
# the lanes of the target (16: AVX-512, 32 registers and mask registers;
# 8: AVX2, 16 registers, no masks).  The schedule must show exactly this:
# the sizes the groups choose are meant to hit the tails of these blocks.
# ---------------------------------------------------------------------------

MAX_KERNEL_TAPS = 64        # passes/kernels.c: more taps stay with the scalar nest
MAX_KERNEL_STRIDE = 4       # conv and pool strides the kernels take
MAX_STRIP_BYTES = 96 << 10  # passes/pool.c: a fused pool's private strip
MAX_CHAN_PIXELS = 14        # passes/kernels.c: conv-chan's widest pixel block
CHAN_MIN_REDUCTION = 256    # passes/kernels.c: conv-chan's least Cg x taps
STRIDED_PLANE_CHANNELS = 256    # passes/kernels.c: strided 1x1 layers on the plane kernel
CHAN_SPARE_LANES = 4        # passes/kernels.c: spare lanes x reduction past it a pixel: conv-chan
MAX_DW_ROW_VECTORS = 16     # passes/kernels.c: the widest rows of depthwise conv-rows, in vectors
DW_ROWS_MAX_STRIDE = 2      # ... and its largest stride
DW_CHAN_MAX_PIXELS = 1024   # passes/kernels.c: depthwise conv-chan's largest output plane
DW_CHAN_MAX_BYTES = 256 << 10   # ... and its transposed input planes
PACK_ITEMS_MAX_BYTES = 1 << 20  # passes/pack.c: the largest block its work items pack
PACK_ITEMS_MIN_BLOCKS = 4       # ... the fewest channel blocks
PACK_ITEMS_ALT_MIN_BLOCKS = 8   # ... for conv-chan's plan beside a plane kernel
CHAN_ITEMS = 8              # passes/pool.c: chunks of pooled rows a conv-chan with a pool
CHAN_OPEN_POOL_ROWS = 14    # passes/pool.c: its pooled rows an item when their count is a symbol
CHAN_OPEN_WIDTHS = 5        # passes/kernels.c: widths 14, 28, ... for a symbolic width
CHAN_ALT_WIDTHS = [7, 14, 28]  # schedule.h: rows on which conv-chan's plan beside the plane kernel runs
CHAN_SMALL_PLANE = 1024     # passes/kernels.c: the largest plane plane_wasteful gives to conv-chan
CHAN_WASTE_SHARE = 50       # ... where more than 1 in this many of the plane kernel's lanes idle
CHAN_WASTE_SHARE_1X1 = 10   # ... 1 in this many without column taps


def vregs(vl):
    return 32 if vl >= 16 else 16


def masked(vl):
    return vl >= 16


# Whether the native target issues one 512-bit FMA a cycle (znver4) rather
# than two: its conv-plane blocks differ.  main() reads the CPU that convc
# resolves native to, before the groups size their planes by those blocks.
NATIVE_HALF_RATE = False


def native_cpu(convc):
    """The CPU name of `convc check --dump=schedule` (native)."""
    out = subprocess.run([convc, "check", "-", "--dump=schedule"], capture_output=True, text=True,
                         input="pipeline t {\n  input x: f32[4]\n  output y = x + 1\n}\n", check=True)
    return re.search(r"\(target ([^,]+),", out.stdout).group(1)


def plane_block(kg, vl):
    """conv-plane (nk, nv) for kg output channels per group on a vl-lane
    target: nk channels x nv vectors of the flattened plane (16 x 1 where
    a 512-bit FMA issues once a cycle)."""
    acc, nk = (24, 8) if vregs(vl) >= 32 else (12, 6)
    if vregs(vl) >= 32 and NATIVE_HALF_RATE:
        acc, nk = 16, 16
    nk = min(nk, kg)
    nv = min(8, acc // nk)
    if nk <= 2 and nv > 4:          # depthwise-like blocks: 4 vectors
        nv = 4
    return nk, nv


def plane_tile(kg, vl):
    nk, nv = plane_block(kg, vl)
    return nv * vl


def rows_block(kg, ow, vl):
    """conv-rows (nk, nv) (choose_rows_block): nk channels x chunks of nv
    vectors of an output row of ow columns, the cheapest by its cycle model
    (12 accumulators keep the FMAs busy); ow None (a symbolic width): the
    cost summed over the widths 14, 28, ... (CHAN_OPEN_WIDTHS)."""
    widths = [ow] if ow is not None else [14 << i for i in range(CHAN_OPEN_WIDTHS)]
    maxvec = max(-(-w // vl) for w in widths)
    best, res = 1e30, None
    for nk in range(1, min(8, kg) + 1):
        for nv in range(1, min(4, maxvec) + 1):
            if nk * nv + nv + 2 > vregs(vl):
                continue
            cycles = 0.0
            for w in widths:
                nvec = -(-w // vl)
                for v0 in range(0, nvec, nv):
                    m = min(nv, nvec - v0)
                    fma, lat, loads = float(nk * m) / 2.0, 6.0, float(m + nk) / 2.0
                    c = fma if fma > lat else lat
                    cycles += c if c > loads else loads
            cycles *= float(-(-kg // nk))
            if cycles < best - 1e-9:
                best, res = cycles, (nk, nv)
    return res


def lanes_to_spare(px, vl):
    """passes/kernels.c: whole vectors of vl lanes cover px positions
    with more than 2% of their lanes to spare."""
    return (-(-px // vl) * vl - px) * 50 > px


def chan_one_vector(vl, ow, pooled=False):
    """conv-chan on a target with one FMA a cycle, with known widths or no
    max pool after it: one channel vector a block, column taps in a loop."""
    return vregs(vl) >= 32 and NATIVE_HALF_RATE and (ow is not None or not pooled)


def chan_step(c, q):
    """passes/kernels.c chan_step: the cycles of a (channel, tap) step."""
    return max(c * q / 2.0, 4.0, (c + q) / 2.0)


def chan_block(kg, ow, vl, pooled=False, dw=False, plane_row=False):
    """conv-chan (nk, nv): ncv vectors of output channels (nk = ncv*vl) x np
    pixels of a row, the cheapest by the cycle model of passes/kernels.c
    (ties: more accumulators); past 24 accumulators (AVX-512, no max pool
    after it: up to 28 with their weight vectors and a broadcast in the 32
    registers) the column taps go in a loop, on AVX2 past 8 accumulators
    (unrolled, they spill).  ow None (a symbolic width):
    the cost summed over the widths 14, 28, ... (CHAN_OPEN_WIDTHS).  A
    1x1 layer's plane as one row (plane_row), one vector a block: the last
    block costs the step of the pixels left, no block wider than the plane."""
    accmax, ncvmax = ((24 if pooled else 28), 4) if vregs(vl) >= 32 else (12, 2)
    onechan = chan_one_vector(vl, ow, pooled)
    if onechan or dw:
        ncvmax = 1
    widths = [ow] if ow is not None else [14 << i for i in range(CHAN_OPEN_WIDTHS)]
    cvs = -(-kg // vl)
    best, res = 1e30, (1, 1)
    for c in range(1, min(ncvmax, cvs) + 1):
        for q in range(1, MAX_CHAN_PIXELS + 1):
            if c * q > accmax:
                break
            if c * q > 24 and c * q + c + 1 > vregs(vl):
                continue
            cost = chan_step(c, q) * float(sum(-(-w // q) for w in widths))
            if onechan and plane_row:
                if q > ow:
                    break
                cost = chan_step(c, q) * float(ow // q) + (chan_step(c, ow % q) if ow % q else 0.0)
            cost *= float(-(-cvs // c))
            if cost < best - 1e-9 or (cost < best + 1e-9 and c * q > res[0] * res[1]):
                best, res = cost, (c, q)
    return res[0] * vl, res[1]


class ConvGeom:
    """What the kernel choice of a convolution depends on.  ow/iw (oh/ih):
    the output and input row widths (heights), None when they are size
    symbols; cg: input channels a group, None when a symbol."""

    def __init__(self, kg, k, stride, p0, ow, iw, oh=None, nsp=2, ow_num=None, iw_num=None,
                 cg=None, ih=None, groups=1):
        self.kg, self.k, self.stride, self.p0 = kg, list(k), list(stride), list(p0)
        self.ow, self.iw, self.oh, self.nsp = ow, iw, oh, nsp
        self.cg, self.ih, self.groups = cg, ih, groups
        self.max_pool_next = False      # set by Pipeline.expect_pool_fusion
        self.taps = int(np.prod(k))
        # phase planes: a stride, or output rows longer than the input rows
        # (the relation holds for every value of a width symbol)
        self.strided_or_wider = any(s > 1 for s in stride) or ow_num > iw_num

    def phases(self, vl):
        """The input read through phase planes (conv-plane and conv-rows, but
        for conv-rows' depthwise sliding rows)."""
        return self.strided_or_wider and self.choice(vl)[0] != "conv-chan" and not self.dw_rows(vl)

    def lines(self, vl):
        """The input copied to planes that each start a 64-byte line
        (passes/layout.c lines_pay): the plane kernel at stride 1 reading
        in place, without mask registers, a 1x1 kernel, at least 512 input
        channels a group and a plane of known size not a multiple of 4."""
        if (masked(vl) or self.strided_or_wider or self.taps != 1 or self.cg is None
                or self.cg < 512 or None in (self.iw, self.ih if self.nsp == 2 else 1)):
            return False
        plane = self.iw * (self.ih if self.nsp == 2 else 1)
        return self.choice(vl)[0] == "conv-plane" and plane % 4 != 0

    def dw_rows(self, vl):
        """conv-rows over a depthwise layer, a work item a channel's plane
        with its input rows slid through (passes/kernels.c dw_rows_applies):
        one input and one output channel a group, 2-D, strides up to
        DW_ROWS_MAX_STRIDE, sizes known, rows of more than half a vector and
        at most MAX_DW_ROW_VECTORS vectors; strided kernels wider than 3
        only on output planes past DW_CHAN_MAX_PIXELS.  Plane sizes known
        at run time only: on AVX-512, and strided on AVX2 (dw_plane_open)."""
        if not (self.nsp == 2 and self.kg == 1 and self.cg == 1
                and getattr(self, "w_rank", self.nsp + 2) == self.nsp + 2
                and all(s <= DW_ROWS_MAX_STRIDE for s in self.stride)):
            return False
        if None in (self.ow, self.iw, self.oh, self.ih):
            # plane sizes known at run time only: AVX-512, and strided
            # layers without mask registers
            return masked(vl) or any(s > 1 for s in self.stride)
        if not (2 * self.ow > vl and -(-self.ow // vl) <= MAX_DW_ROW_VECTORS):
            return False
        return not (any(s > 1 for s in self.stride) and self.k[-1] > 3
                    and self.oh * self.ow <= DW_CHAN_MAX_PIXELS)

    def dw_chan(self, vl):
        """conv-chan over a depthwise layer (passes/kernels.c): one input
        and one output channel a group, 2-D, where a 512-bit FMA issues
        once a cycle or, without mask registers, strided or with rows
        narrower than a vector; a vector of channels or more, sizes known, an
        output plane of at most DW_CHAN_MAX_PIXELS, input planes transposed within
        DW_CHAN_MAX_BYTES, no max pool next."""
        target = ((vregs(vl) >= 32 and NATIVE_HALF_RATE)
                  or (not masked(vl) and (any(s > 1 for s in self.stride)
                                          or (self.ow is not None and self.ow < vl))))
        return (self.nsp == 2 and self.kg == 1 and self.cg == 1 and self.groups >= vl and target
                and getattr(self, "w_rank", self.nsp + 2) == self.nsp + 2
                and None not in (self.ow, self.iw, self.oh, self.ih)
                and self.oh * self.ow <= DW_CHAN_MAX_PIXELS
                and self.ih * self.iw * vl * 4 <= DW_CHAN_MAX_BYTES and not self.max_pool_next)

    def chan(self, vl):
        """conv-chan: 2-D, strided (or, on AVX2, a symbolic row width with
        column taps; or, with one FMA a cycle, known widths, column taps and
        Cg*taps >= CHAN_MIN_REDUCTION), Cg*taps >= CHAN_MIN_REDUCTION or a max pool next, at
        least one vector of output channels a group, the input channels
        known (plane sizes may be symbols; stride 1, dilated or pooled too,
        otherwise keeps the plane kernel)."""
        # without mask registers a symbolic row width with column taps
        # goes to conv-chan at stride 1 too, where the row kernel cannot
        # take it (output rows longer than the input's)
        blends = (not masked(vl) and self.ow is None and (self.k[-1] > 1 or self.p0[-1] != 0)
                  and not self.open_rows())
        # with one FMA a cycle and known widths, stride 1 too where column
        # taps leave the rows and the reduction is long
        column_taps = self.k[-1] > 1 or self.p0[-1] != 0
        border = (NATIVE_HALF_RATE and vregs(vl) >= 32 and self.cg is not None
                  and (self.ow is not None and self.iw is not None
                       and self.cg * self.taps >= CHAN_MIN_REDUCTION if column_taps
                       else self.plane_weak(vl)))
        # without mask registers, known widths, stride 1 with column taps
        # where whole vectors cover a row with more than 2% to spare
        rows_short = (not masked(vl) and self.ow is not None and self.iw is not None
                      and all(s == 1 for s in self.stride) and (self.k[-1] > 1 or self.p0[-1] != 0)
                      and lanes_to_spare(self.ow, vl) and self.cg is not None
                      and self.cg * self.taps >= CHAN_MIN_REDUCTION)
        # with two FMAs a cycle and mask registers, stride 1 on a small
        # plane where the plane kernel would idle more than 2% of its lanes
        wasteful = (masked(vl) and not NATIVE_HALF_RATE and all(s == 1 for s in self.stride)
                    and not self.max_pool_next and self.cg is not None
                    and self.cg * self.taps >= CHAN_MIN_REDUCTION and self.plane_wasteful(vl))
        return (self.nsp == 2 and (any(s > 1 for s in self.stride) or blends or border or rows_short
                                   or wasteful)
                and self.cg is not None and not self.strided_plane(vl)
                and (self.cg * self.taps >= CHAN_MIN_REDUCTION or self.max_pool_next or border)
                and self.kg >= vl)

    def plane_wasteful(self, vl):
        """passes/kernels.c plane_wasteful: sizes known, an output plane of
        at most CHAN_SMALL_PLANE pixels, and more than 1 in CHAN_WASTE_SHARE
        of the lanes the plane kernel's vectors issue (over OH rows of
        max(IW, OW) positions, every tap) without work: spare lanes, and
        column taps outside the input row (1 in CHAN_WASTE_SHARE_1X1 for a
        layer without column taps)."""
        if self.nsp != 2 or None in (self.ow, self.iw, self.oh) or self.oh * self.ow > CHAN_SMALL_PLANE:
            return False
        kh, kw = self.k
        dx = getattr(self, "d", [1, 1])[1]
        issued = -(-(self.oh * max(self.iw, self.ow)) // vl) * vl * kh * kw
        work = sum(self.oh * kh for kx in range(kw) for ox in range(self.ow)
                   if 0 <= ox + kx * dx - self.p0[1] < self.iw)
        column_taps = self.k[-1] > 1 or self.p0[-1] != 0
        return (issued - work) * (CHAN_WASTE_SHARE if column_taps else CHAN_WASTE_SHARE_1X1) > issued

    def chan_alt(self, vl):
        """passes/kernels.c chan_alternative and passes/pack.c: conv-chan's
        block (nk, nv) beside the plane kernel, taken where the output rows
        are CHAN_ALT_WIDTHS wide, or None: with one FMA a cycle, a 2-D
        stride-1 layer with column taps, widths known at run time only, no
        max pool next, no phase planes, conv-chan's reduction and a vector
        of output channels a group; runtime weights only where its work
        items pack them (PACK_ITEMS_ALT_MIN_BLOCKS channel blocks or more, a block within
        PACK_ITEMS_MAX_BYTES, taps not flipped).  Also beside the plane
        kernel of a strided 1x1 layer with widths known at run time only
        (strided_plane), for output rows of 7 and 14 (alt_widths)."""
        if (self.ow is None or self.iw is None) and self.strided_plane(vl):
            nk, nv = chan_block(self.kg, None, vl)
            if getattr(self, "w_input", False) and not self.items_pack(nk, PACK_ITEMS_ALT_MIN_BLOCKS):
                return None
            return nk, nv
        if not (NATIVE_HALF_RATE and vregs(vl) >= 32 and self.nsp == 2 and self.stride == [1, 1]
                and (self.k[-1] > 1 or self.p0[-1] != 0) and (self.ow is None or self.iw is None)
                and not self.max_pool_next and not self.strided_or_wider and self.cg is not None
                and self.cg * self.taps >= CHAN_MIN_REDUCTION and self.kg >= vl):
            return None
        nk, nv = chan_block(self.kg, None, vl)
        if getattr(self, "w_input", False) and not self.items_pack(nk, PACK_ITEMS_ALT_MIN_BLOCKS):
            return None
        return nk, nv

    def items_pack(self, nk, min_blocks=None):
        """passes/pack.c: conv-chan's work items can pack these weights,
        nk channels a block: at least PACK_ITEMS_MIN_BLOCKS blocks
        (PACK_ITEMS_ALT_MIN_BLOCKS for the plan beside a plane kernel), each within
        PACK_ITEMS_MAX_BYTES, taps not flipped (the plane's size and a
        fused pool aside)."""
        return (self.groups * -(-self.kg // nk) >= (min_blocks or PACK_ITEMS_MIN_BLOCKS) and self.cg is not None
                and self.cg * self.taps * nk * 4 <= PACK_ITEMS_MAX_BYTES
                and not getattr(self, "flip", False))

    def strided_plane(self, vl):
        """passes/kernels.c strided_plane: a strided 1x1 layer without
        padding, no max pool next, at least STRIDED_PLANE_CHANNELS input
        channels a group, stays on the plane kernel (its input in one phase
        plane): with sizes known, without mask registers, and with one FMA
        a cycle where it has at least STRIDED_PLANE_CHANNELS output
        channels a group too and plane_weak is false; with widths known at
        run time only, on the latter alone (conv-chan's plan beside it)."""
        if not (any(s > 1 for s in self.stride)
                and not self.max_pool_next and self.k == [1, 1] and self.p0 == [0, 0]
                and getattr(self, "p1", [0, 0])[0] == 0 and self.cg is not None
                and self.cg >= STRIDED_PLANE_CHANNELS):
            return False
        if self.ow is None or self.iw is None:
            return (masked(vl) and NATIVE_HALF_RATE and vregs(vl) >= 32
                    and self.kg >= STRIDED_PLANE_CHANNELS and not self.plane_weak(vl))
        if self.oh is None:
            return False
        if not masked(vl):
            return True
        return (NATIVE_HALF_RATE and vregs(vl) >= 32 and self.kg >= STRIDED_PLANE_CHANNELS
                and not self.plane_weak(vl))

    def plane_weak(self, vl):
        """passes/kernels.c plane_weak: weight rows (Cg*taps) a multiple
        of 1024 floats apart, which the plane kernel's 16 rows would read
        from one L1 cache set (whatever the sizes), or a plane size known
        when compiling whose spare lanes (whole vectors over the plane)
        times the reduction pass CHAN_SPARE_LANES times its pixels."""
        if self.cg is None:
            return False
        row = self.cg * self.taps
        if row % 1024 == 0:
            return True
        if self.ow is None or self.oh is None:
            return False
        px = self.oh * self.ow
        return (-(-px // vl) * vl - px) * row > CHAN_SPARE_LANES * px

    def plane_row(self):
        """conv-chan on a 1x1 layer at stride 1 without padding, no max
        pool after it: the plane as one row of oh*ow pixels (passes/kernels.c),
        with the widths known only with the height known too; with a width
        symbol (then the output's width and height are the input's) one row
        of a length known at run time."""
        if not (self.nsp == 2 and self.k == [1, 1] and all(s == 1 for s in self.stride)
                and self.p0 == [0, 0] and getattr(self, "p1", [0, 0]) == [0, 0]
                and not self.max_pool_next):
            return False
        if self.ow is None or self.iw is None:
            return True
        return self.oh is not None and self.ow == self.iw

    def chan_rows(self, vl):
        """passes/kernels.c: conv-chan's whole output rows a block, or 0:
        one vector a block (chan_one_vector), sizes known, no max pool
        next, not a plane as one row nor depthwise planes, rows of at
        most MAX_CHAN_PIXELS/2: as many rows as fit MAX_CHAN_PIXELS, at
        most the plane's."""
        if (not chan_one_vector(vl, self.ow, self.max_pool_next) or None in (self.ow, self.iw, self.oh, self.ih)
                or self.max_pool_next or self.plane_row() or self.dw_chan(vl)
                or 2 * self.ow > MAX_CHAN_PIXELS or self.oh <= 1):
            return 0
        return min(MAX_CHAN_PIXELS // self.ow, self.oh)

    def rows_pair(self, vl):
        """passes/kernels.c rows_pair_applies: conv-rows over a 2-D layer
        with widths known (not depthwise sliding rows), whose rows end in
        a chunk of at most half the block's vectors, and more than one
        output row (or a symbolic height): two rows a work item, their
        last chunks computed as one."""
        kern, blk = self.choice(vl)
        if kern != "conv-rows" or self.dw_rows(vl) or self.nsp != 2 or None in (self.ow, self.iw):
            return False
        nvec = -(-self.ow // vl) if self.ow > vl else 1
        tail = nvec % blk[1]
        return tail > 0 and 2 * tail <= blk[1] and (self.oh is None or self.oh >= 2)

    def open_rows(self):
        """conv-rows takes a symbolic row width (row_body_open): stride 1,
        output rows no longer than the input's."""
        return all(s == 1 for s in self.stride) and not self.strided_or_wider

    def choice(self, vl):
        """(kernel, (nk, nv) or None)"""
        if self.taps > MAX_KERNEL_TAPS or any(s > MAX_KERNEL_STRIDE for s in self.stride):
            return "scalar", None
        if self.dw_rows(vl):
            known = None not in (self.ow, self.iw, self.oh, self.ih)
            return "conv-rows", (1, 2 if vregs(vl) >= 32 and known else 1)
        # a 1x1 layer at stride 1 without padding: its plane one row
        row = self.plane_row()
        ow = self.ow * self.oh if row and self.ow is not None else self.ow
        row = row and ow is not None   # the cost model's plane row: sizes known
        if self.dw_chan(vl):
            return "conv-chan", chan_block(self.groups, ow, vl, False, dw=True, plane_row=row)
        if self.chan(vl):
            nk, nv = chan_block(self.kg, ow, vl, self.max_pool_next, plane_row=row)
            rows = self.chan_rows(vl)
            return "conv-chan", (nk, rows * self.ow if rows else nv)
        column_taps = self.k[-1] > 1 or self.p0[-1] != 0
        if not masked(vl) and column_taps and self.ow is not None and self.iw is not None:
            return "conv-rows", rows_block(self.kg, self.ow, vl)
        if not masked(vl) and column_taps and self.ow is None and self.open_rows():
            return "conv-rows", rows_block(self.kg, None, vl)
        return "conv-plane", plane_block(self.kg, vl)


def fused_pool_rows(nk, nv, vl, ohc, owc, ph, k, d, st):
    """passes/pool.c: pooled rows a work item of the fused conv -> pool
    makes (0: not fused, the strip would not fit).  k, d, st: the pool's
    window height, dilation and stride; ph: pooled rows; ohc x owc: the
    convolution's output plane."""
    tile, best, best_cost = nv * vl, 0, 1e30
    for rows in range(1, ph + 1):
        crows = min((rows - 1) * st + (k - 1) * d + 1, ohc)
        if nk * crows * owc * 4 > MAX_STRIP_BYTES:
            break
        tiles = -(-(crows * owc) // tile)
        cost = float(tiles * tile) / float(rows * st * owc)
        if cost < best_cost - 1e-9:
            best_cost, best = cost, rows
    return best


VLS = (16, 8)          # native (AVX-512) and x86-64-v3 (AVX2) lanes


# ---------------------------------------------------------------------------
# float64 references
# ---------------------------------------------------------------------------


def ref_conv(x, w, nsp, bias, p0, p1, dil, groups, flip, stride=None):
    """torch.nn.functional.conv1d/conv2d with zero padding on [.., C, *sp],
    weight [K, C/groups, *k]."""
    if flip:
        w = w[(Ellipsis,) + (slice(None, None, -1),) * nsp]
    lead = x.shape[:-nsp - 1]
    C = x.shape[-nsp - 1]
    sp = x.shape[-nsp:]
    ks = w.shape[2:]
    xb = x.reshape((-1, C) + sp)
    xp = np.pad(xb, [(0, 0), (0, 0)] + [(p0[i], p1[i]) for i in range(nsp)])
    # taps in the padding are skipped, not added as w*0 (a weight that is
    # not finite must not reach the outputs whose taps it skips)
    inside = np.pad(np.ones(sp, dtype=bool), [(p0[i], p1[i]) for i in range(nsp)])
    o = [sp[i] + p0[i] + p1[i] - dil[i] * (ks[i] - 1) for i in range(nsp)]
    assert all(v >= 1 for v in o), o
    st = list(stride or [1] * nsp)
    o = [-(-o[i] // st[i]) for i in range(nsp)]        # every st-th stride-1 output
    K, Cg = w.shape[:2]
    Kg = K // groups
    out = np.zeros((xb.shape[0], K) + tuple(o))
    with np.errstate(invalid="ignore", over="ignore"):
        for g in range(groups):
            xs = xp[:, g * Cg:(g + 1) * Cg]
            ws = w[g * Kg:(g + 1) * Kg]
            for kidx in np.ndindex(*ks):
                sl = tuple(slice(kidx[i] * dil[i], kidx[i] * dil[i] + (o[i] - 1) * st[i] + 1, st[i])
                           for i in range(nsp))
                patch = xs[(slice(None), slice(None)) + sl]
                wk = ws[(slice(None), slice(None)) + kidx]
                valid = inside[sl]
                # one product at a time: a NaN or an infinity must reach only
                # the outputs whose taps read it (no 0 * inf from einsum)
                for c in range(Cg):
                    prod = patch[:, c:c + 1] * wk[:, c].reshape((1, Kg) + (1,) * nsp)
                    out[:, g * Kg:(g + 1) * Kg] += np.where(valid, prod, 0.0)
        if bias is not None:
            out += bias.reshape((1, K) + (1,) * nsp)
    return out.reshape(lead + (K,) + tuple(o))


def pool_out(n, k, s, p, d, ceil):
    """docs/language.md, output size of a window stage (both pads p)."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def ref_pool(x, nsp, is_max, k, s, p, d, ceil, count_pad):
    """F.max_pool1d/2d (padding is never the maximum; NaN propagates) and
    F.avg_pool1d/2d with count_include_pad=count_pad, on the last nsp dims."""
    sp = x.shape[-nsp:]
    outs = [pool_out(sp[i], k[i], s[i], p[i], d[i], ceil) for i in range(nsp)]
    assert all(o >= 1 for o in outs), outs
    idx, valid, cnt = [], [], []
    for i in range(nsp):
        start = np.arange(outs[i]) * s[i] - p[i]
        ii = start[:, None] + np.arange(k[i])[None, :] * d[i]          # [o, t]
        ok = (ii >= 0) & (ii < sp[i])
        idx.append(np.clip(ii, 0, sp[i] - 1))
        valid.append(ok)
        if count_pad:   # the window clipped to the padded input [-p, n + p)
            cnt.append(np.minimum(start + k[i], sp[i] + p[i]) - np.maximum(start, -p[i]))
        else:
            cnt.append(ok.sum(axis=1))
    acc = np.full(x.shape[:-nsp] + tuple(outs), -np.inf if is_max else 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        for taps in np.ndindex(*k):
            sel, m = x, True
            for i in range(nsp):
                ax = x.ndim - nsp + i
                sel = np.take(sel, idx[i][:, taps[i]], axis=ax)
                shape = [1] * nsp
                shape[i] = outs[i]
                m = m & valid[i][:, taps[i]].reshape(shape)
            m = np.broadcast_to(m, acc.shape)
            acc = np.where(m, np.maximum(acc, sel) if is_max else acc + sel, acc)
        if not is_max:
            c = cnt[0] if nsp == 1 else cnt[0][:, None] * cnt[1][None, :]
            acc = acc / c
    return acc


def f64(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


class Val:
    """A tensor value of the pipeline: its text, the float64 reference, the
    magnitude of what was summed to make it (for the tolerance), and whether
    IEEE arithmetic decides its non-finite elements (False after operations
    whose NaN behaviour the language does not promise, e.g. relu).  symw /
    symh: its width / height is a size symbol."""

    def __init__(self, expr, v, mag, ieee=True, symw=False, symh=False):
        self.expr, self.v, self.mag, self.ieee = expr, v, mag, ieee
        self.symw, self.symh = symw, symh

    def like(self, other):
        """Take other's symbolic dims (an elementwise result of other)."""
        self.symw, self.symh = other.symw, other.symh
        return self


# ---------------------------------------------------------------------------
# pipelines and units
# ---------------------------------------------------------------------------


class Unit:
    def __init__(self, uid, desc):
        self.uid = uid
        self.desc = desc
        self.lines = []
        self.inputs = {}         # name -> float32 array
        self.files = {}          # file name -> array (for load)
        self.outputs = {}        # name -> Val
        self.expect = []         # dicts: label, kind (conv, pool), geom, epi, pool (Pipeline.expect_*)
        self.syms = {}
        self.known = None        # a KNOWN_BUGS key: the mismatch it makes is expected


class Pipeline:
    def __init__(self, rng, title):
        self.rng = rng
        self.title = title
        self.units = []
        self.cur = None
        self.names = 0
        self.run_opts = []

    # -- units --
    def begin(self, desc):
        self.cur = Unit(len(self.units), desc)
        self.units.append(self.cur)
        return self.cur

    def describe(self, text):
        self.cur.desc = (self.cur.desc + "; " if self.cur.desc else "") + text

    def fresh(self, base):
        self.names += 1
        return f"{base}{self.names}"

    def sym(self, base):
        """A size symbol private to the current unit."""
        return f"{base}{self.cur.uid}"

    # -- values --
    def input(self, arr, base="x", syms=None):
        name = self.fresh(base)
        arr = np.asarray(arr, dtype=np.float32)
        dims = []
        for i, n in enumerate(arr.shape):
            s = syms[i] if syms else None
            if s is not None:
                if self.cur.syms.get(s, n) != n:
                    s = None
                else:
                    self.cur.syms[s] = n
            dims.append(s if s is not None else str(n))
        self.cur.lines.append(f"input {name}: f32[{', '.join(dims)}]")
        self.cur.inputs[name] = arr
        sym = [not d.isdigit() for d in dims]
        return Val(name, f64(arr), np.abs(f64(arr)), symw=bool(sym and sym[-1]),
                   symh=len(sym) > 1 and sym[-2])

    def const(self, arr, base="w", how="load"):
        """A constant: how = 'load' (exact, any float32 including NaN) or
        'literal' (a tensor literal; finite values only, printed exactly)."""
        arr = np.asarray(arr, dtype=np.float32)
        name = self.fresh(base)
        if how == "literal":
            self.cur.lines.append(f"const {name} = {literal(arr)}")
        else:
            fn = f"{name}.npy"
            self.cur.files[fn] = arr
            self.cur.lines.append(f'const {name} = load("{fn}")')
        return Val(name, f64(arr), np.abs(f64(arr)))

    def tensor(self, arr, base, how):
        """how: 'input' | 'load' | 'literal'"""
        if how == "input":
            return self.input(arr, base)
        return self.const(arr, base, how)

    def bind(self, expr, val, base="t"):
        name = self.fresh(base)
        self.cur.lines.append(f"{name} = {expr}")
        return Val(name, val.v, val.mag, val.ieee).like(val)

    def output(self, expr, val, base="y"):
        name = self.fresh(base)
        self.cur.lines.append(f"output {name} = {expr}")
        self.cur.outputs[name] = val
        return Val(name, val.v, val.mag, val.ieee).like(val)

    def output_val(self, val):
        self.cur.lines.append(f"output {val.expr}")
        self.cur.outputs[val.expr] = val

    def expect_conv(self, label, geom, epilogue=0):
        """A convolution: its kernel and block by the size model (geom), and
        epilogue elementwise stages fused into it (None: any number)."""
        self.cur.expect.append(dict(label=label, kind="conv", geom=geom, epi=epilogue, pool=None))

    def expect_pool(self, label, stride, epilogue=0):
        """A (not global) pool: pool-rows up to stride 4, else scalar."""
        self.cur.expect.append(dict(label=label, kind="pool", stride=list(stride), epi=epilogue,
                                    into=None))

    def expect_scalar(self, label):
        """A stage the kernels do not take."""
        self.cur.expect.append(dict(label=label, kind="scalar", epi=0))

    def known_bug(self, key):
        """The current unit shows compiler bug KNOWN_BUGS[key]."""
        self.cur.known = key

    def expect_epilogue(self, label, n):
        for e in self.cur.expect:
            if e["label"] == label:
                e["epi"] = n

    def expect_pool_fusion(self, conv, pool, ph, k, d, st):
        """Pool `pool` reads conv `conv`'s result (after its epilogue) and
        nothing else does: passes/pool.c fuses it where conv is a conv-plane
        stage and the strip fits.  ph: pooled rows; k, d, st: the pool's
        window height, dilation and stride."""
        ec = [e for e in self.cur.expect if e["label"] == conv][0]
        ep = [e for e in self.cur.expect if e["label"] == pool][0]
        ec["pool"] = dict(label=pool, ph=ph, k=k, d=d, st=st)
        ep["into"] = conv
        # a max pool the pool-rows kernel takes makes a strided stem conv-chan
        ec["geom"].max_pool_next = (self.last_pool["is_max"] and
                                    max(ep["stride"]) <= MAX_KERNEL_STRIDE)

    # -- text --
    def script(self, units=None):
        units = self.units if units is None else units
        body = []
        for u in units:
            body.append(f"  # unit {u.uid}: {u.desc}")
            body += ["  " + l for l in u.lines]
        return f"# {self.title}\npipeline p {{\n" + "\n".join(body) + "\n}\n"

    def nstages(self):
        return sum(len(u.expect) for u in self.units)


def num(v):
    v = float(v)
    if v == 0:
        return "-0.0" if np.signbit(v) else "0"
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    return repr(v)


def literal(a):
    if a.ndim == 1:
        return "[" + ", ".join(num(v) for v in a) + "]"
    return "[" + ", ".join(literal(r) for r in a) + "]"


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------


def data(rng, shape, values="normal"):
    """Input data.  values:
    normal   uniform in [-1, 1)
    negzero  mostly -0.0 (a sum of -0.0 terms on a -0.0 bias stays -0.0 only
             if taps outside the input are skipped, not added as w*0)
    scale    magnitudes from 1e-30 to 1e30, either sign, some subnormal
    special  normal with a few NaN, +inf, -inf, -0.0 and exact zeros
    underflow  negative, about -1e-30: with weights() 'underflow' every
             product rounds to -0.0, and so does every sum without a bias,
             which stays -0.0 only if taps outside the input are skipped
             (an FMA of a zero there, +0.0 * w, turns it into +0.0)"""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    if values == "normal":
        a = rng.uniform(-1, 1, n)
    elif values == "negzero":
        a = np.full(n, -0.0)
        live = rng.random(n) < 0.15
        a[live] = rng.uniform(-1, 1, int(live.sum()))
    elif values == "scale":
        a = rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-30, 30, n)
        sub = rng.random(n) < 0.05
        a[sub] = rng.choice([-1.0, 1.0], int(sub.sum())) * 1e-41
    elif values == "underflow":
        a = -rng.uniform(0.5, 1, n) * 1e-30
    elif values == "special":
        a = rng.uniform(-1, 1, n)
        for v, p in ((np.nan, 0.02), (np.inf, 0.01), (-np.inf, 0.01), (-0.0, 0.05), (0.0, 0.05)):
            a[rng.random(n) < p] = v
    else:
        raise ValueError(values)
    return a.reshape(shape).astype(np.float32)


def weights(rng, shape, values="normal"):
    """Weights: finite.  'negzero' makes them positive (so -0.0 * w = -0.0);
    'special' adds exact and negative zeros (0 * inf is NaN), 'scale' tiny
    and large ones; 'edges' (not finite) puts a NaN, a +inf and a -inf at
    first or last column taps, which the outputs at the row ends skip (a
    skipped tap computed as 0 * w would make them NaN); 'underflow'
    positive, about 1e-20 (data() 'underflow')."""
    shape = tuple(int(s) for s in shape)
    a = rng.uniform(-1, 1, shape)
    if values == "edges":
        for v in (np.nan, np.inf, -np.inf):
            a[tuple(int(rng.integers(0, n)) for n in shape[:-1]) + (int(pick(rng, [0, shape[-1] - 1])),)] = v
    elif values == "negzero":
        a = rng.uniform(0.25, 1, shape)
    elif values == "special":
        a[rng.random(shape) < 0.1] = 0.0
        a[rng.random(shape) < 0.1] = -0.0
    elif values == "scale":
        a = a * 10.0 ** rng.uniform(-8, 2, shape)
    elif values == "underflow":
        a = rng.uniform(0.25, 1, shape) * 1e-20
    return a.astype(np.float32)


# ---------------------------------------------------------------------------
# stage kinds: one generator per kind of stage a micro-kernel computes.
# gen(p, rng, **fixed) adds the stage (and its inputs) to the current unit,
# binds its value to a name, declares with p.expect() which kernel it must
# get, and returns the Val.  Every parameter not fixed by the caller is drawn.
# ---------------------------------------------------------------------------

WIDTHS = [1, 2, 3, 7, 15, 16, 17, 31, 33, 56]
KGS = [1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 16, 17]


def choices(geom):
    """The expected kernel and block on both targets, for a unit's text."""
    out = []
    for vl in VLS:
        kern, blk = geom.choice(vl)
        out.append(f"{kern}{' %dx%d' % blk if blk else ''}@{vl}")
    return (" ".join(out) + "".join(f" phases@{vl}" for vl in VLS if geom.phases(vl))
            + "".join(f" lines@{vl}" for vl in VLS if geom.lines(vl)))


def conv_plane(p, rng, nsp=None, C=None, K=None, groups=None, k=None, d=None, H=None, W=None,
               pad=None, pad_h=None, batch=None, syms=(), bias=None, flip=None, wsrc=None,
               values="normal", bias_values=None, x=None, stride=None, pointwise=False,
               wvalues=None):
    """A convolution the kernels compute (passes/kernels.c): conv1d/conv2d with
    a [K, C/groups, *k] weight and zero padding, or conv1x1 (pointwise=True;
    a [K, C] or [K, C, 1, 1] weight, stride only).  The kernel and block it
    must get follow from the size model (ConvGeom): conv-plane, or conv-rows
    on x86-64-v3 for column taps and known row widths; through phase planes
    for strides and output rows longer than the input's.
    stride: per spatial dim, 1 to 4 (default 1).
    pad: 'same' (stride 1) | 'explicit' (symmetric, width pad d*(k-1)/2; in
    2-D any height pad pad_h) | 'none' | 'full' (d*(k-1) each side) | 'wide'
    (more than the output needs: output rows longer than the input's) | a
    list of symmetric pads per dim.  syms: a subset of 'NCHW' to declare as
    size symbols (N: every batch dim).  wvalues: the weights' kind
    (weights()), when not values.  x: a Val to convolve (e.g. another
    stage's result) instead of a new input; its shape gives the batch dims,
    C, H and W."""
    if pointwise:
        nsp, groups, k, d, flip = 2, 1, [1, 1], [1, 1], False
        pad = [0, 0]
    if nsp is None:
        nsp = 2 if rng.random() < 0.7 else 1
    if x is not None:
        shp = x.v.shape
        batch, C, W = list(shp[:-nsp - 1]), shp[-nsp - 1], shp[-1]
        H = shp[-2] if nsp == 2 else None
    if groups is None:
        ok = [g for g in [1, 1, 1, 1, 2, 3, "depthwise"]
              if g == "depthwise" and (K is None or C is None or K % C == 0)
              or g != "depthwise" and (K is None or K % g == 0) and (C is None or C % g == 0)]
        groups = pick(rng, ok)
    if groups == "depthwise":
        if C is None:
            C = int(pick(rng, [c for c in [1, 2, 3, 5, 7, 8, 13] if K is None or K % c == 0]))
        groups = C
        if K is None:
            K = C * int(pick(rng, [1, 1, 2]))
    if C is None:
        C = groups * int(pick(rng, [1, 1, 2, 3, 5, 7]))
    if K is None:
        K = groups * int(pick(rng, KGS))
    assert C % groups == 0 and K % groups == 0, (C, K, groups)
    if k is None:
        k = [int(pick(rng, [1, 2, 3, 3, 3, 4, 5, 7])) for _ in range(nsp)]
        if nsp == 2 and rng.random() < 0.5:
            k[1] = k[0]
    k = list(k)
    if d is None:
        d = [int(pick(rng, [1, 1, 1, 2, 3])) for _ in range(nsp)]
    d = list(d)
    stride = list(stride or [1] * nsp)
    strided = any(s > 1 for s in stride)
    if W is None:
        W = int(pick(rng, WIDTHS + [8, 9, 47, 48, 49, 64, 65, 97, 129]))
    if nsp == 2 and H is None:
        H = int(pick(rng, [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 17, 33]))
    tot = [d[i] * (k[i] - 1) for i in range(nsp)]
    if pad is None:
        if strided:
            pad = [int(rng.integers(0, k[i] + 1)) for i in range(nsp)]
        else:
            pad = "explicit" if tot[-1] % 2 == 0 and rng.random() < 0.35 else "same"
            if tot[-1] == 0 and rng.random() < 0.3:
                pad = "none"
            if rng.random() < 0.1:
                pad = pick(rng, ["full", "wide"])
    if pad == "same" and strided:
        pad = "explicit"
    if pad == "explicit" and tot[-1] % 2:
        pad = "same" if not strided else [t // 2 for t in tot]
    if pad == "none" and tot[-1] and not strided:
        pad = "same"
    if pad == "same":
        p0 = [t // 2 for t in tot]
        p1 = [tot[i] - p0[i] for i in range(nsp)]
    elif pad == "explicit":
        if nsp == 2 and pad_h is None:
            pad_h = int(pick(rng, [0, tot[0] // 2, (tot[0] + 1) // 2, tot[0], tot[0] + 1]))
        p0 = p1 = ([pad_h] if nsp == 2 else []) + [tot[-1] // 2]
    elif pad == "full":
        p0 = p1 = list(tot)
    elif pad == "wide":       # at least one more than pad=same on each side
        p0 = p1 = [t // 2 + 1 + int(rng.integers(0, 3)) for t in tot]
    elif pad == "none":
        p0 = p1 = [0] * nsp
    else:
        p0 = p1 = list(pad)
        pad = "explicit"
    p0, p1 = list(p0), list(p1)
    sp = [H, W] if nsp == 2 else [W]
    for i in range(nsp):                       # every output size at least 1
        short = tot[i] + 1 - (sp[i] + p0[i] + p1[i])
        if short > 0:
            if x is None:
                sp[i] += short + int(rng.integers(0, 3))
            else:                              # the size is given: pad more
                p0[i] = p1[i] = -(-(tot[i] + 1 - sp[i]) // 2)
                pad = "explicit"
    H, W = (sp[0], sp[1]) if nsp == 2 else (None, sp[0])
    if batch is None:
        batch = [int(rng.integers(1, 4)) for _ in range(int(pick(rng, [0, 0, 0, 1, 1, 2])))]
    if flip is None:
        flip = rng.random() < 0.25
    if bias is None:
        bias = pick(rng, ["input", "load", "literal", None, None])
    if wsrc is None:
        wsrc = pick(rng, ["input", "input", "load", "literal"])
    xshape = list(batch) + [C] + sp
    xsyms = [("N%d_" % i) if "N" in syms else None for i in range(len(batch))] + \
        ["C" if "C" in syms else None] + ([("H" if "H" in syms else None)] if nsp == 2 else []) + \
        ["W" if "W" in syms else None]
    xsyms = [p.sym(s) if s else None for s in xsyms]
    if x is None:
        x = p.input(data(rng, xshape, values), syms=xsyms if any(xsyms) else None)
        p.last_input = x
    wshape = [K, C // groups] + k
    wv = weights(rng, wshape, wvalues or values)
    if pointwise and rng.random() < 0.6:
        wv = wv.reshape(K, C)
    if wsrc == "input" and "C" in syms and groups == 1:
        w = p.input(wv, "w", syms=[None, p.sym("C")] + [None] * (wv.ndim - 2))
    else:
        w = p.tensor(wv, "w", wsrc if wsrc != "literal" or np.isfinite(wv).all() else "load")
    opts = []
    b = None
    if bias:
        bv = rng.uniform(-1, 1, K).astype(np.float32)
        bvals = bias_values or ("negzero" if values == "negzero" else None)
        if bvals == "negzero":
            bv[:] = -0.0
        elif bvals == "zero":
            bv[:] = 0.0
        b = p.tensor(bv, "b", bias)
        opts.append(f"bias={b.expr}")

    def pair(v):
        return f"({v[0]}, {v[1]})" if nsp == 2 and (v[0] != v[1] or rng.random() < 0.5) else str(v[-1])
    if strided or rng.random() < 0.05:
        opts.append("stride=" + pair(stride))
    if pointwise:
        pass
    elif pad == "same":
        opts.append("pad=same")
    elif pad == "full" and rng.random() < 0.7:
        opts.append("pad=full")
    elif pad in ("explicit", "wide", "full"):
        opts.append("pad=" + pair(p0))
    elif rng.random() < 0.2:
        opts.append("pad=valid")
    if not pointwise and (any(v != 1 for v in d) or rng.random() < 0.1):
        opts.append("dilation=" + pair(d))
    if not pointwise and (groups != 1 or rng.random() < 0.1):
        opts.append(f"groups={groups}")
    if not pointwise and (flip or rng.random() < 0.05):
        opts.append(f"flip={'true' if flip else 'false'}")
    rng.shuffle(opts)
    stage = "conv1x1" if pointwise else f"conv{nsp}d"
    label = p.fresh("c")
    call = f"{stage}({x.expr}, {w.expr}{''.join(', ' + o for o in opts)})"
    if rng.random() < 0.2:
        call = f"{x.expr} |> {stage}({w.expr}{''.join(', ' + o for o in opts)})"
    p.cur.lines.append(f"{label} = {call}")
    w4 = w.v.reshape(wshape)
    ref = ref_conv(x.v, w4, nsp, b.v if b else None, p0, p1, d, groups, flip, stride)
    # an operand that is itself computed may be off by its own tolerance
    xmag = x.mag if x.expr in p.cur.inputs else x.mag + np.abs(x.v)
    with np.errstate(invalid="ignore"):
        mag = ref_conv(xmag, np.abs(w4), nsp, b.mag if b else None, p0, p1, d, groups, flip, stride)
    kg = K // groups
    ow, oh = ref.shape[-1], ref.shape[-2] if nsp == 2 else 1
    geom = ConvGeom(kg, k, stride, p0, None if x.symw else ow, None if x.symw else W,
                    oh=None if x.symh else oh, nsp=nsp, ow_num=ow, iw_num=W,
                    cg=None if "C" in syms else C // groups, ih=None if x.symh else H,
                    groups=groups)
    geom.w_input = wsrc == "input"
    geom.flip = flip
    geom.p1 = list(p1)
    geom.d = list(d)
    geom.w_rank = len(wv.shape)     # conv1x1's [K, C] weight: not depthwise to the passes
    p.expect_conv(label, geom)
    p.describe(f"{stage} x{xshape} w{list(wv.shape)} g={groups} s={stride} d={d} pad={p0}/{p1} "
               f"flip={flip} bias={bias} w={wsrc} values={values}"
               + (f" syms={''.join(syms)}" if syms else "") + "; " + choices(geom))
    return Val(label, ref, mag, x.ieee, symw=x.symw, symh=x.symh)


def conv_random(p, rng, **kw):
    """conv_plane with a stride now and then (random pipelines)."""
    if "stride" not in kw and rng.random() < 0.3:
        nsp = kw.get("nsp") or (2 if rng.random() < 0.7 else 1)
        kw.update(nsp=nsp, stride=[int(pick(rng, [1, 2, 2, 3, 4])) for _ in range(nsp)])
    return conv_plane(p, rng, **kw)


def conv1x1(p, rng, **kw):
    """conv1x1, mostly with a stride (phase planes)."""
    kw.setdefault("stride", [int(pick(rng, [1, 2, 2, 3, 4])) for _ in range(2)])
    return conv_plane(p, rng, pointwise=True, **kw)


POOL_WIDTHS = [1, 2, 5, 8, 15, 16, 17, 31, 32, 33, 40, 47, 65]


def pool(p, rng, nsp=None, is_max=None, C=None, H=None, W=None, k=None, stride=None, pad=None,
         d=None, ceil=None, count_pad=None, batch=None, syms=(), values="normal", x=None,
         form=None):
    """maxpool1d/2d, avgpool1d/2d (KERNEL_POOL_ROWS for strides up to 4).
    k, stride, pad, d: per spatial dim (pad at most k/2; dilation for max
    only).  x: a Val to pool instead of a new input; form: the text of x in
    the call when that is not x.expr (an inline expression)."""
    if nsp is None:
        nsp = 2 if rng.random() < 0.7 else 1
    if is_max is None:
        is_max = rng.random() < 0.5
    if k is None:
        k = [int(pick(rng, [1, 2, 2, 3, 3, 4, 5])) for _ in range(nsp)]
        if nsp == 2 and rng.random() < 0.6:
            k[1] = k[0]
    k = list(k)
    if stride is None:
        stride = [int(pick(rng, [1, 2, 2, 3, 4])) for _ in range(nsp)]
        if rng.random() < 0.3:
            stride = list(k)
        if nsp == 2 and rng.random() < 0.5:
            stride[1] = stride[0]
    stride = list(stride)
    if pad is None:
        pad = [int(rng.integers(0, k[i] // 2 + 1)) if rng.random() < 0.5 else 0 for i in range(nsp)]
    pad = list(pad)
    if d is None:
        d = [int(pick(rng, [1, 1, 1, 2, 3])) if is_max else 1 for _ in range(nsp)]
    d = list(d)
    if ceil is None:
        ceil = rng.random() < 0.3
    if count_pad is None:
        count_pad = rng.random() < 0.6
    if x is not None:
        shp = x.v.shape
        batch, C, W = list(shp[:-nsp - 1]), shp[-nsp - 1], shp[-1]
        H = shp[-2] if nsp == 2 else None
    else:
        if C is None:
            C = int(pick(rng, [1, 2, 3, 5]))
        if W is None:
            W = int(pick(rng, POOL_WIDTHS))
        if nsp == 2 and H is None:
            H = int(pick(rng, [1, 2, 3, 4, 5, 7, 9, 16]))
        if batch is None:
            batch = [int(rng.integers(1, 3)) for _ in range(int(pick(rng, [0, 0, 1, 2])))]
    sp = [H, W] if nsp == 2 else [W]
    for i in range(nsp):          # a window at least: enlarge the input, else the pad
        need = d[i] * (k[i] - 1) + 1 - 2 * pad[i]
        if sp[i] < need:
            if x is None:
                sp[i] = need + int(rng.integers(0, 3))
            else:
                k[i], d[i], pad[i] = min(k[i], sp[i]), 1, 0
    H, W = (sp[0], sp[1]) if nsp == 2 else (None, sp[0])
    if x is None:
        xshape = list(batch) + [C] + sp
        xsyms = [None] * (len(batch) + 1) + ([("H" if "H" in syms else None)] if nsp == 2 else []) + \
            ["W" if "W" in syms else None]
        xsyms = [p.sym(s) if s else None for s in xsyms]
        x = p.input(data(rng, xshape, values), syms=xsyms if any(xsyms) else None)
        p.last_input = x

    def opt(v, default):
        if all(t == default[i] for i, t in enumerate(v)) and rng.random() < 0.7:
            return None
        return f"({v[0]}, {v[1]})" if nsp == 2 and (v[0] != v[1] or rng.random() < 0.3) else str(v[-1])
    opts = []
    for name, v, dflt in (("stride", stride, k), ("pad", pad, [0] * nsp),
                          ("dilation", d, [1] * nsp) if is_max else (None, None, None)):
        t = name and opt(v, dflt)
        if t:
            opts.append(f"{name}={t}")
    if ceil or rng.random() < 0.1:
        opts.append(f"ceil_mode={'true' if ceil else 'false'}")
    if not is_max and (not count_pad or rng.random() < 0.1):
        opts.append(f"count_pad={'true' if count_pad else 'false'}")
    rng.shuffle(opts)
    size = f"({k[0]}, {k[1]})" if nsp == 2 and (k[0] != k[1] or rng.random() < 0.3) else str(k[-1])
    stage = f"{'max' if is_max else 'avg'}pool{nsp}d"
    label = p.fresh("q")
    xe = form or x.expr
    call = f"{stage}({xe}, {size}{''.join(', ' + o for o in opts)})"
    if rng.random() < 0.2 and form is None:
        call = f"{xe} |> {stage}({size}{''.join(', ' + o for o in opts)})"
    p.cur.lines.append(f"{label} = {call}")
    ref = ref_pool(x.v, nsp, is_max, k, stride, pad, d, ceil, count_pad)
    xmag = x.mag if x.expr in p.cur.inputs else x.mag + np.abs(x.v)
    with np.errstate(invalid="ignore"):
        mag = ref_pool(xmag, nsp, is_max, k, stride, pad, d, ceil, count_pad)
    p.expect_pool(label, stride)
    p.last_pool = dict(k=k, stride=stride, pad=pad, d=d, is_max=is_max)  # as used (a small x shrinks k)
    p.describe(f"{stage} x{list(x.v.shape)} k={k} s={stride} pad={pad} d={d} ceil={ceil}"
               + ("" if is_max else f" count_pad={count_pad}") + f" values={values}"
               + (f" syms={''.join(syms)}" if syms else "")
               + ("" if max(stride) <= MAX_KERNEL_STRIDE else "; scalar"))
    return Val(label, ref, mag, x.ieee, symw=x.symw, symh=x.symh)


def conv_pool(p, rng, values="normal", conv=None, pool_kw=None, act=None, bind=None):
    """conv2d (+ bias) (+ activation; drawn if None, none if "") ->
    maxpool2d/avgpool2d: the pool reads
    the convolution's result alone, so passes/pool.c fuses it into the
    convolution wherever that is a conv-plane stage (both targets for 1x1
    kernels without left padding, else only with mask registers)."""
    ckw = dict(nsp=2, groups=1, syms=(), values=values, bias=pick(rng, ["input", "load", None]))
    ckw.setdefault("H", int(pick(rng, [4, 5, 6, 7, 9, 11, 13, 17, 24, 33])))
    ckw.setdefault("W", int(pick(rng, [4, 7, 8, 12, 15, 16, 17, 28, 31, 33, 56])))
    if rng.random() < 0.2:
        ckw["stride"] = [int(pick(rng, [1, 2])), int(pick(rng, [1, 2, 3]))]
    ckw.update(conv or {})
    c = conv_plane(p, rng, **ckw)
    if act is None:
        act = pick(rng, ["relu", "relu", None, "leaky"])
    cur, n = c, 0
    if act:
        v, n = apply_op(p, rng, act, c)
        cur = v
    if bind is None:
        bind = rng.random() < 0.4
    if bind and act:
        cur = p.bind(cur.expr, cur)
        form = None
    else:
        form = cur.expr
    p.expect_epilogue(c.expr, n)
    kw = dict(nsp=2, is_max=rng.random() < 0.75)
    kw.update(pool_kw or pick(rng, [dict(k=[2, 2], stride=[2, 2], pad=[0, 0]),
                                    dict(k=[3, 3], stride=[2, 2], pad=[1, 1]),
                                    dict(k=[3, 3], stride=[1, 1], pad=[1, 1]),
                                    dict(k=[2, 2], stride=[1, 1], pad=[0, 0])]))
    q = pool(p, rng, x=cur, form=form, **kw)
    pp = p.last_pool
    p.expect_pool_fusion(c.expr, q.expr, q.v.shape[-2], pp["k"][0], pp["d"][0], pp["stride"][0])
    p.describe(f"then {act or 'nothing'} then the pool")
    return q


# name -> (generator, weight in random pipelines)
def conv_chan(p, rng, **kw):
    """A strided 2-D convolution for conv-chan: a long reduction (Cg x taps
    >= 256) scattered to NCHW, or a short one (a stem) with a max pool
    fused over its ring of rows; now and then with plane sizes bound at
    run time (the pool then a stage of its own)."""
    if "x" not in kw and "syms" not in kw and rng.random() < 0.3:
        kw["syms"] = pick(rng, ["HW", "W", "H"])
    groups = int(pick(rng, [1, 1, 1, 2]))
    K = groups * int(pick(rng, [16, 17, 24, 32, 40, 64]))
    stride = [int(pick(rng, [1, 2, 2, 3])), int(pick(rng, [2, 2, 3, 4]))]
    if rng.random() < 0.5:
        k = [int(pick(rng, [1, 3, 3, 5])) for _ in range(2)]
        C = groups * max(1, -(-256 // (k[0] * k[1])) + int(rng.integers(0, 8)))
        pad = [int(rng.integers(0, k[i] + 1)) for i in range(2)]
        return conv_plane(p, rng, nsp=2, C=C, K=K, groups=groups, k=k, stride=stride, pad=pad,
                          d=[int(pick(rng, [1, 1, 2])) for _ in range(2)],
                          H=int(pick(rng, [3, 7, 12, 17])), W=int(pick(rng, [5, 9, 16, 23, 31, 45])), **kw)
    k = [int(pick(rng, [3, 5, 7])) for _ in range(2)]
    conv = dict(C=groups * int(pick(rng, [1, 2, 3, 4])), K=K, groups=groups, k=k, stride=stride,
                pad=[k[0] // 2, k[1] // 2], d=[1, 1], H=int(pick(rng, [9, 16, 21, 30])),
                W=int(pick(rng, [11, 20, 33, 46])), syms=kw.get("syms", ()))
    pk = pick(rng, [dict(k=[3, 3], stride=[2, 2], pad=[1, 1], d=[1, 1], ceil=False),
                    dict(k=[2, 2], stride=[2, 2], pad=[0, 0], d=[1, 1], ceil=bool(rng.random() < 0.3)),
                    dict(k=[3, 2], stride=[1, 2], pad=[1, 0], d=[1, 1], ceil=False),
                    dict(k=[2, 2], stride=[1, 1], pad=[1, 1], d=[2, 2], ceil=False)])
    return conv_pool(p, rng, values=kw.get("values", "normal"), conv=conv, pool_kw=dict(pk, is_max=True))


STAGE_KINDS = {
    "conv": (conv_random, 1.0),
    "conv1x1": (conv1x1, 0.15),
    "pool": (pool, 0.4),
    "conv-pool": (conv_pool, 0.3),
    "conv-chan": (conv_chan, 0.2),
}


# ---------------------------------------------------------------------------
# epilogues: elementwise stages after a kernel stage
# ---------------------------------------------------------------------------

EPILOGUE_OPS = ["relu", "leaky", "leaky_default", "relu6", "clamp", "sigmoid", "tanh", "abs",
                "mul", "add", "sub", "rsub", "div", "neg", "residual", "exp_tanh"]


def apply_op(p, rng, op, v, residual=None):
    """One elementwise operation on Val v; returns (Val, stages added)."""
    r, n = _apply_op(p, rng, op, v, residual)
    return r.like(v), n


def _apply_op(p, rng, op, v, residual):
    e = v.expr
    with np.errstate(all="ignore"):
        if op == "relu":
            t = f"relu({e})" if rng.random() < 0.7 else f"({e} |> relu)"
            return Val(t, np.maximum(v.v, 0), v.mag, False), 1
        if op in ("leaky", "leaky_default"):
            a = 0.01 if op == "leaky_default" else float(pick(rng, [0.1, 0.2, 0.5, 2.0]))
            t = f"leaky_relu({e})" if op == "leaky_default" else f"leaky_relu({e}, {num(a)})"
            return Val(t, np.where(v.v > 0, v.v, f64(a) * v.v), v.mag * max(1.0, a), False), 1
        if op == "relu6":
            return Val(f"clamp({e}, 0, 6)", np.minimum(np.maximum(v.v, 0), 6), v.mag, False), 1
        if op == "clamp":
            lo, hi = pick(rng, [(-1.0, 0.5), (-0.25, 0.25), (0.0, 1.0)])
            return Val(f"clamp({e}, {num(lo)}, {num(hi)})", np.minimum(np.maximum(v.v, lo), hi),
                       v.mag, False), 1
        if op == "sigmoid":
            return Val(f"sigmoid({e})", 1 / (1 + np.exp(-v.v)), v.mag, False), 1
        if op == "tanh":
            return Val(f"tanh({e})", np.tanh(v.v), v.mag, False), 1
        if op == "abs":
            return Val(f"abs({e})", np.abs(v.v), v.mag, False), 1
        if op == "exp_tanh":
            return Val(f"exp(tanh({e}))", np.exp(np.tanh(v.v)), 3 * v.mag, False), 2
        s = float(pick(rng, [3.0, -1.5, 0.3, -0.7, 0.5, 2.0]))    # mostly inexact products
        fs = f64(s)
        if op == "mul":
            t = f"({e} * {num(s)})" if rng.random() < 0.5 else f"({num(s)} * {e})"
            return Val(t, v.v * fs, v.mag * abs(fs), v.ieee), 1
        if op == "add":
            return Val(f"({e} + {num(s)})", v.v + fs, v.mag + abs(fs), v.ieee), 1
        if op == "sub":
            return Val(f"({e} - {num(s)})", v.v - fs, v.mag + abs(fs), v.ieee), 1
        if op == "rsub":
            return Val(f"({num(s)} - {e})", fs - v.v, v.mag + abs(fs), v.ieee), 1
        if op == "div":
            s = float(pick(rng, [2.0, 4.0, -8.0, 0.5]))
            return Val(f"({e} / {num(s)})", v.v / s, v.mag / abs(s), v.ieee), 1
        if op == "neg":
            return Val(f"(-{e})", -v.v, v.mag, v.ieee), 1
        if op == "residual":
            r = residual
            if r is None or r.v.shape != v.v.shape:
                r = p.input(data(rng, v.v.shape), "r")
            t = f"({e} + {r.expr})" if rng.random() < 0.5 else f"({r.expr} + {e})"
            return Val(t, v.v + r.v, v.mag + r.mag, v.ieee), 1
    raise AssertionError(op)


def epilogue(p, rng, v, ops=None, residual=None, out=True):
    """Apply a chain of elementwise ops to kernel stage v (a bound name); the
    chain is expected to be fused whole (each stage has one reader and is no
    output but the last).  Returns the final Val (an output if out)."""
    if ops is None:
        ops = [pick(rng, EPILOGUE_OPS) for _ in range(int(pick(rng, [1, 1, 2, 3, 4])))]
    cur, n = v, 0
    for i, op in enumerate(ops):
        cur, k = apply_op(p, rng, op, cur, residual)
        n += k
        if i + 1 < len(ops) and rng.random() < 0.25:   # a named intermediate: still fused
            cur = p.bind(cur.expr, cur)
    p.expect_epilogue(v.expr, n)
    p.describe("epilogue " + " -> ".join(ops))
    if out:
        if re.fullmatch(r"\w+", cur.expr):
            p.output_val(cur)
            return cur
        return p.output(cur.expr, cur)
    return cur


def finish(p, rng, v, p_epilogue=0.5, residual=None):
    """Make kernel stage v an output, with an epilogue or without."""
    if rng.random() < p_epilogue:
        return epilogue(p, rng, v, residual=residual)
    p.output_val(v)
    return v


# ---------------------------------------------------------------------------
# groups: deterministic sets of pipelines, each its own ctest
# ---------------------------------------------------------------------------

BOUNDARIES = ("vl-1", "vl", "vl+1", "t-1", "t", "t+1", "2t+1")


def boundary(kg, vl, which):
    """A plane size at a boundary of the vector (vl lanes) or of the tile t a
    work item covers, for kg output channels a group."""
    t = plane_tile(kg, vl)
    return {"vl-1": vl - 1, "vl": vl, "vl+1": vl + 1, "t-1": t - 1, "t": t, "t+1": t + 1,
            "2t+1": 2 * t + 1}[which]


class Sweep:
    """Walks through the (target, boundary) pairs in turn, so that a group's
    stages between them put the plane size at every boundary of both targets."""

    def __init__(self):
        self.i = 0
        self.vl = None

    def next(self, kg):
        """A plane size for kg channels a group; self.vl is the target it is
        meant for.  On x86-64-v3 only kernels one column wide (no left pad)
        take conv-plane, so a stage sized for 8 lanes must be one."""
        self.vl = vl = VLS[self.i % len(VLS)]
        which = BOUNDARIES[(self.i // len(VLS)) % len(BOUNDARIES)]
        self.i += 1
        return max(1, boundary(kg, vl, which)), f"{which} at {vl} lanes"


KG_CYCLE = [1, 3, 4, 5, 8, 9, 2, 7]     # native tiles 64, 128, 96, 64, 48, 48, 64, 48
#                                         (one FMA a cycle: 64, 80, 64, 48, 32, 16, 64, 32)


def group_plane(rng, widths, per_width, per_pipeline):
    """conv2d plane sizes H*W for every width: a small height, heights that
    put H*W at (or, when W does not divide it, just past) the boundaries of
    the vector and the tile, and a plane of several tiles with interior rows."""
    pipes, p = [], None
    sweep = Sweep()
    i = 0
    for wi, W in enumerate(widths):
        for j in range(per_width):
            kg = KG_CYCLE[i % len(KG_CYCLE)]
            i += 1
            if p is None or len(p.units) >= per_pipeline:
                p = Pipeline(rng, "plane sizes conv2d")
                pipes.append(p)
            p.begin("")
            k = pick(rng, [[3, 3], [3, 3], [1, 3], [3, 1], [2, 2], [3, 2], [1, 1]])
            pad = None
            if j == 0:
                H, why = 1 + wi % 3, "small"
            elif j == per_width - 1:
                H, why = min(400, max(k[0] + 4, -(-3 * plane_tile(kg, 16) // W) + k[0])), "3 tiles"
            else:
                b, why = sweep.next(kg)
                if not masked(sweep.vl):
                    k = [k[0], 1]
                H = max(1, b // W if sweep.i % 4 < 2 else -(-b // W))      # at or just past
                pad = "same"                                                # so the plane is H*W
            v = conv_plane(p, rng, nsp=2, C=int(pick(rng, [1, 2, 3])), K=kg, groups=1, k=k,
                           d=[1, 1], H=H, W=W, pad=pad, batch=[], flip=False)
            p.describe(f"input plane {H}x{W}: {why}")
            finish(p, rng, v, 0.3)
    return pipes


def g_plane2d_narrow(rng):
    """conv2d, widths 1 to 9: planes of many short rows."""
    return group_plane(rng, [1, 2, 3, 7, 8, 9], 4, 24)


def g_plane2d_wide(rng):
    """conv2d, widths 15 to 129: rows about as long as a vector or a tile."""
    return group_plane(rng, [15, 16, 17, 31, 33, 48, 56, 129], 3, 12)


def g_plane1d(rng):
    """conv1d: the plane is one row; lengths at every boundary of both targets."""
    p = Pipeline(rng, "conv1d lengths")
    sweep = Sweep()
    for i in range(4 + 2 * len(BOUNDARIES)):
        p.begin("")
        kg = KG_CYCLE[i % len(KG_CYCLE)]
        if i < 4:
            L, why = [1, 2, 3, 7][i], "short"
        else:
            L, why = sweep.next(kg)
        k = int(pick(rng, [1, 2, 3, 5, 7]))
        if i >= 4 and not masked(sweep.vl):
            k = 1
        d = int(pick(rng, [1, 1, 2, 3]))
        v = conv_plane(p, rng, nsp=1, C=int(pick(rng, [1, 2, 3])), K=kg, groups=1, k=[k], d=[d],
                       W=L, batch=pick(rng, [[], [], [2], [2, 3]]))
        p.describe(f"length {L}: {why}")
        finish(p, rng, v, 0.3)
    return [p]


def g_channels(rng):
    """Output channel counts with and without a remainder block on both
    targets (8 / 6 channels a block), odd and prime input channel counts."""
    p = Pipeline(rng, "channels")
    combos = [(1, 1), (2, 3), (3, 5), (5, 7), (7, 2), (9, 3), (11, 1), (13, 5), (16, 3), (17, 2),
              (23, 1), (6, 11)]
    for i, (K, C) in enumerate(combos):
        p.begin("")
        v = conv_plane(p, rng, nsp=2, C=C, K=K, groups=1, k=[3, 3], d=[1, 1],
                       H=int(pick(rng, [3, 5, 9])), W=int(pick(rng, [7, 15, 17, 33])), batch=[])
        finish(p, rng, v, 0.3)
    # inputs of more than 256 KiB a group in 16 planes or more: the plane
    # kernel prefetches the input planes a few channels ahead (1x1 and 3x3,
    # a remainder block; 16 planes of 272 KB; 15 planes, no prefetches)
    for K, C, k, H, W in [(16, 272, [1, 1], 32, 32), (9, 70, [3, 3], 61, 67),
                          (11, 16, [3, 3], 64, 67), (11, 15, [3, 3], 64, 72)]:
        p.begin("")
        v = conv_plane(p, rng, nsp=2, C=C, K=K, groups=1, k=k, d=[1, 1], H=H, W=W, batch=[],
                       pad="same", pointwise=k == [1, 1], wsrc="load")
        finish(p, rng, v, 0.3)
    return [p]


def g_groups(rng):
    """Grouped and depthwise convolutions (groups = channels, with and
    without a channel multiplier), depthwise with strides."""
    p = Pipeline(rng, "groups")
    cases = [  # (C, K, groups)
        (4, 4, 2), (6, 9, 3), (6, 6, 6), (5, 5, 5), (7, 14, 7), (8, 16, 8), (9, 27, 3),
        (10, 10, 5), (3, 51, 3), (13, 13, 13)]
    for i, (C, K, g) in enumerate(cases):
        p.begin("")
        v = conv_plane(p, rng, nsp=2 if i % 4 else 1, C=C, K=K, groups=g,
                       k=pick(rng, [[3, 3], [5, 5], [3, 3]]) if i % 4 else [int(pick(rng, [3, 5]))],
                       d=None, H=int(pick(rng, [2, 5, 8])), W=int(pick(rng, [9, 17, 31, 40])))
        finish(p, rng, v, 0.4)
    for C, s, H, W in [(16, [2, 2], 14, 14), (8, [2, 1], 9, 33), (5, [3, 3], 11, 17)]:
        p.begin("strided depthwise")
        v = conv_plane(p, rng, nsp=2, C=C, K=C, groups=C, k=[3, 3], d=[1, 1], pad=[1, 1], stride=s,
                       H=H, W=W, batch=[])
        finish(p, rng, v, 0.5)
    return [p]


def g_taps(rng):
    """Kernel sizes 1..7 (odd and even) with dilation 1..3, pad=same and
    explicit pads, square and not."""
    pipes = []
    shapes = [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6], [7, 7], [1, 5], [5, 1], [2, 3],
              [7, 3], [3, 6], [4, 1], [6, 2]]
    p = None
    for i, k in enumerate(shapes):
        if p is None or len(p.units) >= 9:
            p = Pipeline(rng, "taps")
            pipes.append(p)
        p.begin("")
        d = [int(pick(rng, [1, 2, 3])), int(pick(rng, [1, 2, 3]))]
        pad = "explicit" if (d[1] * (k[1] - 1)) % 2 == 0 and i % 2 else "same"
        v = conv_plane(p, rng, nsp=2, C=int(pick(rng, [1, 2])), K=int(pick(rng, [1, 2, 3])),
                       groups=1, k=k, d=d, pad=pad, H=int(pick(rng, [1, 4, 7, 11, 16])),
                       W=int(pick(rng, [3, 13, 16, 17, 29])), batch=[])
        finish(p, rng, v, 0.3)
    for k in [2, 4, 6, 7]:
        p.begin("")
        d = int(pick(rng, [1, 2, 3]))
        v = conv_plane(p, rng, nsp=1, C=2, K=int(pick(rng, [1, 3])), groups=1, k=[k], d=[d],
                       W=int(pick(rng, [5, 19, 40])))
        finish(p, rng, v, 0.3)
    return pipes


def g_batch(rng):
    """Batch dims: rank 4 and rank 5 inputs to conv2d, rank 3 and 4 to
    conv1d, batch sizes above 1; a pool and a conv1x1 with batch dims."""
    p = Pipeline(rng, "batch dims")
    for batch, nsp in [([2], 2), ([3], 2), ([2, 3], 2), ([1, 2], 2), ([4], 1), ([2, 2], 1),
                       ([3, 1], 2)]:
        p.begin("")
        v = conv_plane(p, rng, nsp=nsp, batch=batch, K=int(pick(rng, [3, 5, 9])),
                       k=[3, 3] if nsp == 2 else [5], d=None, H=int(pick(rng, [2, 5, 7])),
                       W=int(pick(rng, [5, 16, 21])))
        finish(p, rng, v, 0.4)
    p.begin("")
    finish(p, rng, pool(p, rng, nsp=2, batch=[2, 3], W=19, H=6), 0.4)
    p.begin("")
    finish(p, rng, conv1x1(p, rng, batch=[2], K=6, C=3, H=7, W=18), 0.4)
    return [p]


def g_symbols(rng):
    """Size symbols bound at run time: batch, channels, height, width (a
    symbolic width takes conv-plane on x86-64-v3 too); pools."""
    p = Pipeline(rng, "size symbols")
    for syms, nsp, batch in [("NCHW", 2, [2]), ("HW", 2, []), ("W", 2, [2, 2]), ("C", 2, [3]),
                             ("NCW", 1, [2]), ("NH", 2, [1, 2])]:
        p.begin("")
        v = conv_plane(p, rng, nsp=nsp, syms=syms, batch=batch, groups=1,
                       K=int(pick(rng, [2, 5, 9])), k=[3, 3] if nsp == 2 else [3],
                       H=int(pick(rng, [3, 6, 10])), W=int(pick(rng, [7, 17, 24])))
        finish(p, rng, v, 0.4)
    # inputs past 256 KiB whose size is known at run time only: interior tiles
    # take the copy of the channel loop that prefetches (each kernel row's
    # span when the row width is a symbol)
    for syms, C, k, H, W in [("HW", 64, [3, 3], 70, 75), ("W", 256, [1, 1], 36, 45)]:
        p.begin("")
        v = conv_plane(p, rng, nsp=2, syms=syms, batch=[], groups=1, K=9, C=C, k=k, d=[1, 1],
                       pad="same", H=H, W=W)
        finish(p, rng, v, 0.4)
    # a 1x1 layer whose plane kernel would read its 16 weight rows from
    # one L1 set (1024 channels): conv-chan on znver4 whatever the sizes,
    # its open widths without column tests
    p.begin("")
    v = conv_plane(p, rng, nsp=2, syms="HW", batch=[2], groups=1, K=24, C=1024, k=[1, 1],
                   d=[1, 1], pad=[0, 0], H=5, W=6, wsrc="input", flip=False)
    finish(p, rng, v, 0.4)
    # the same with only the width a symbol, and with the plane one row
    # (blocks of the open widths run along the plane of H*W pixels): a
    # remainder channel block; with only the height a symbol, per row
    for syms, K, H, W, batch, wsrc in [("W", 20, 3, 11, [2], "input"), ("HW", 17, 1, 23, [], "load"),
                                       ("H", 18, 4, 9, [], "input")]:
        p.begin("")
        v = conv_plane(p, rng, nsp=2, syms=syms, batch=batch, groups=1, K=K, C=1024, k=[1, 1],
                       d=[1, 1], pad=[0, 0], H=H, W=W, wsrc=wsrc, flip=False)
        finish(p, rng, v, 0.4)
    # pools with symbolic sizes are kernels; a symbolic plane is not fused
    # (the strip buffer has a fixed size)
    for syms, nsp in [("HW", 2), ("W", 1), ("H", 2)]:
        p.begin("")
        finish(p, rng, pool(p, rng, nsp=nsp, syms=syms, W=int(pick(rng, [9, 17, 33])), H=7), 0.4)
    p.begin("conv -> pool, symbolic height")
    p.output_val(conv_pool(p, rng, conv=dict(syms="H", H=12, W=17, K=4, k=[3, 3], pad="same",
                                             stride=[1, 1], C=2), pool_kw=dict(k=[2, 2], stride=[2, 2],
                                             pad=[0, 0], d=[1, 1], is_max=True, ceil=False)))
    return [p]


def g_bias_flip(rng):
    """Bias as an input, a loaded constant and a literal; flip=true; weights
    as inputs (packed by a nest in the call) and as constants (packed when
    compiling)."""
    p = Pipeline(rng, "bias and flip")
    for bias, flip, wsrc, k in [("input", True, "input", [3, 3]), ("load", False, "literal", [2, 3]),
                                ("literal", True, "load", [3, 1]), (None, True, "literal", [4, 4]),
                                ("input", False, "load", [1, 1]), ("load", True, "input", [5, 2])]:
        p.begin("")
        v = conv_plane(p, rng, nsp=2, bias=bias, flip=flip, wsrc=wsrc, k=k,
                       K=int(pick(rng, [1, 4, 6, 10])), H=int(pick(rng, [3, 5, 8])),
                       W=int(pick(rng, [6, 17, 20])))
        finish(p, rng, v, 0.3)
    return [p]


def g_epilogue(rng):
    """Elementwise stages fused into the kernel's store: every activation,
    arithmetic with numbers, a residual of the same shape, and chains."""
    p = Pipeline(rng, "epilogues")
    # every tap outside the input: the sums are the bias, constants LLVM
    # knows, and tanh/exp of them must still be libm's (not folded with the
    # compiling machine's double-precision functions), as in the scalar nest
    for ops in (["tanh"], ["sigmoid"], ["exp_tanh"], ["tanh"], ["sigmoid"], ["tanh"]):
        p.begin("")
        v = conv_plane(p, rng, nsp=2, C=2, K=5, groups=1, k=[4, 3], d=[3, 1], pad="same", H=1, W=2,
                       batch=[], bias="load", wsrc="load", stride=[1, 1], flip=True)
        epilogue(p, rng, v, ops=ops)
    chains = [["relu"], ["leaky"], ["leaky_default"], ["relu6"], ["sigmoid"], ["tanh"],
              ["mul", "add"], ["residual"], ["residual", "relu"], ["div", "rsub", "neg"],
              ["clamp", "mul", "sub"], ["abs", "exp_tanh"],
              ["mul", "residual", "relu6", "sigmoid", "add"], ["tanh", "leaky", "residual", "neg"]]
    for i, ops in enumerate(chains):
        p.begin("")
        same = "residual" in ops and i % 3 == 0       # a true `+ x`: K = C, pad=same
        C = int(pick(rng, [1, 2, 3]))
        v = conv_plane(p, rng, nsp=2 if i % 5 else 1, C=C,
                       K=C if same else (9 if i == 6 else int(pick(rng, [1, 1, 2, 3]))),
                       groups=1, k=[3, 3] if i % 5 else [3], pad="same", H=int(pick(rng, [4, 7])),
                       W=int(pick(rng, [9, 17, 30])), batch=[])
        epilogue(p, rng, v, ops=ops, residual=p.last_input if same else None)
    # one tap and one input channel: the accumulator starts as a constant
    # (the bias or 0) and takes one masked multiply-add; a multiply-add in
    # the epilogue (s * c + r, s * c + t) must then round as in the scalar nest
    for C, groups, bias, form in [(1, 1, "load", "3 * {c} + {r}"), (3, 3, False, "{c} * -0.7 + {r} |> relu"),
                                  (1, 1, "literal", "0.3 * {c} - 1.5"), (2, 1, False, "3 * {c} + {r}")]:
        p.begin("")
        c = conv_plane(p, rng, nsp=2, C=C, K=2 * C if groups > 1 else 2, groups=groups, k=[1, 1],
                       d=[1, 1], pad="none", bias=bias, wsrc="load", H=3, W=31, batch=[1])
        r = p.input(data(rng, c.v.shape), "r") if "{r}" in form else None
        with np.errstate(all="ignore"):
            if form.startswith("3 *"):
                v = Val("", 3 * c.v + r.v, 3 * c.mag + r.mag)
            elif "relu" in form:
                v = Val("", np.maximum(c.v * f64(-0.7) + r.v, 0), c.mag + r.mag, False)
            else:
                v = Val("", f64(0.3) * c.v - 1.5, c.mag + 1.5)
        p.output(form.format(c=c.expr, r=r.expr if r else ""), v)
        p.expect_epilogue(c.expr, 3 if "relu" in form else 2)
        p.describe("epilogue " + form.format(c="c", r="r"))
    return [p]


def g_fusion(rng):
    """Where the epilogue chain must stop: a stage read twice, an output in
    the middle of the chain, a non-elementwise reader, two kernel stages
    meeting in one elementwise stage, a kernel stage read by a kernel."""
    p = Pipeline(rng, "fusion boundaries")

    def conv(**kw):
        base = dict(nsp=2, C=2, K=2, groups=1, k=[3, 3], pad="same", H=5, W=19, batch=[], flip=False)
        base.update(kw)
        return conv_plane(p, rng, **base)

    # the activation read twice: fused up to it, not past it
    p.begin("used twice")
    c = conv()
    a = p.bind(f"relu({c.expr})", Val("", np.maximum(c.v, 0), c.mag, False))
    p.output(f"{a.expr} * 2", Val("", a.v * 2, a.mag * 2, False))
    p.output(f"{a.expr} + 1", Val("", a.v + 1, a.mag + 1, False))
    p.expect_epilogue(c.expr, 1)

    # the kernel stage itself read twice: nothing fused
    p.begin("stage read twice")
    c = conv(K=3)
    p.output(f"relu({c.expr})", Val("", np.maximum(c.v, 0), c.mag, False))
    p.output(f"{c.expr} * 0.5", Val("", c.v * 0.5, c.mag * 0.5))
    p.expect_epilogue(c.expr, 0)

    # an output in the middle of the chain
    p.begin("output in the middle")
    c = conv(K=9)
    r = p.output(f"leaky_relu({c.expr}, 0.1)", Val("", np.where(c.v > 0, c.v, f64(0.1) * c.v), c.mag, False))
    p.output(f"{r.expr} * 2 + 1", Val("", r.v * 2 + 1, r.mag * 2 + 1, False))
    p.expect_epilogue(c.expr, 1)

    # the kernel stage is an output and is read again
    p.begin("stage is an output")
    c = conv(K=4)
    p.output_val(c)
    p.output(f"tanh({c.expr})", Val("", np.tanh(c.v), c.mag, False))
    p.expect_epilogue(c.expr, 0)

    # a pool after the activation: the activation is the convolution's
    # epilogue, and the pool is fused into the convolution where that is a
    # conv-plane stage (native; on x86-64-v3 the 3x3 conv is conv-rows)
    p.begin("pool after the epilogue")
    c = conv(K=2, H=6, W=18)
    r, _ = apply_op(p, rng, "relu", c)
    q = pool(p, rng, nsp=2, is_max=True, k=[2, 2], stride=[2, 2], pad=[0, 0], d=[1, 1], ceil=False,
             x=r, form=f"relu({c.expr})")
    p.output_val(q)
    p.expect_epilogue(c.expr, 1)
    p.expect_pool_fusion(c.expr, q.expr, q.v.shape[-2], 2, 1, 2)

    # kernel -> activation -> kernel: the activation is stored for the second
    p.begin("kernel reads a fused activation")
    c1 = conv(K=4)
    a = p.bind(f"relu({c1.expr})", Val("", np.maximum(c1.v, 0), c1.mag, False))
    p.output_val(conv(x=a, K=5))
    p.expect_epilogue(c1.expr, 1)

    # residual from an earlier kernel stage: c1 is read twice, c2 fuses the +
    p.begin("residual of an earlier kernel stage")
    c1 = conv(K=2)
    c2 = conv(x=c1, K=2)
    p.output(f"relu({c2.expr} + {c1.expr})",
             Val("", np.maximum(c2.v + c1.v, 0), c2.mag + c1.mag + np.abs(c1.v), False))
    p.expect_epilogue(c2.expr, 2)
    p.expect_epilogue(c1.expr, 0)

    # a residual computed by a pool kernel after the convolution: the +
    # joins the first of the two stages' epilogues
    p.begin("residual from a later pool stage")
    c = conv(K=2)
    q = pool(p, rng, nsp=2, is_max=True, k=[3, 3], stride=[1, 1], pad=[1, 1], d=[1, 1], ceil=False,
             x=p.last_input)
    p.output(f"{c.expr} + {q.expr}", Val("", c.v + q.v, c.mag + np.abs(q.v)))
    p.expect_epilogue(c.expr, 1)
    p.expect_epilogue(q.expr, 0)

    # the kernel's input is an elementwise expression (stored for the kernel)
    p.begin("kernel input is an expression")
    xin = p.input(data(rng, [2, 4, 13]))
    with np.errstate(all="ignore"):
        e = Val("", np.maximum(xin.v, 0) - f64(0.25), xin.mag + 0.25)
    e = p.bind(f"relu({xin.expr}) - 0.25", e)
    p.output_val(conv(x=e, K=3))

    # the epilogue's other operands: an inline expression of an input and a
    # constant tensor
    p.begin("epilogue reads an expression and a constant")
    c = conv(K=2, W=13)
    xname, xv = p.last_input.expr, p.last_input.v
    kc = p.const(data(rng, c.v.shape), "k", how=pick(rng, ["load", "literal"]))
    p.output(f"{c.expr} + {xname} * 0.5 + {kc.expr}",
             Val("", c.v + xv * 0.5 + kc.v, c.mag + np.abs(xv) + np.abs(kc.v)))
    p.expect_epilogue(c.expr, 2)          # the two +; x * 0.5 is their operand

    # two kernel stages meeting in one elementwise stage
    for form in ("a + b", "relu(a) + b", "a - tanh(b)"):
        p.begin("two kernel stages into one: " + form)
        ca = conv(K=4, W=20)
        cb = conv(K=4, W=20)
        with np.errstate(all="ignore"):
            if form == "a + b":
                v = Val("", ca.v + cb.v, ca.mag + cb.mag)
                e = f"{ca.expr} + {cb.expr}"
            elif form == "relu(a) + b":
                v = Val("", np.maximum(ca.v, 0) + cb.v, ca.mag + cb.mag, False)
                e = f"relu({ca.expr}) + {cb.expr}"
            else:
                v = Val("", ca.v - np.tanh(cb.v), ca.mag + cb.mag, False)
                e = f"{ca.expr} - tanh({cb.expr})"
        p.output(e, v)
        p.expect_epilogue(ca.expr, None)
        p.expect_epilogue(cb.expr, None)
    return [p]


def g_values(rng):
    """Exactness: negative zeros (taps outside the input must be skipped,
    not added as w*0), magnitudes from 1e-30 to 1e30 and subnormals, NaN and
    infinities (the same bits from both paths; NaN payloads aside)."""
    p = Pipeline(rng, "values")
    for values in ("negzero", "scale", "special"):
        for i in range(4):
            p.begin("")
            nsp = 2 if i < 3 else 1
            bias = ["load", "literal", None, "input"][i]
            v = conv_plane(p, rng, nsp=nsp, values=values, bias=bias,
                           bias_values="negzero" if values != "scale" and i < 2 else None,
                           K=int(pick(rng, [1, 3, 5, 9])), k=[3, 3] if nsp == 2 else [3],
                           pad="same" if i % 2 else "explicit", pad_h=int(pick(rng, [1, 2])),
                           H=int(pick(rng, [1, 2, 5, 8])), W=int(pick(rng, [1, 7, 16, 19])))
            finish(p, rng, v, {"negzero": 0.25, "underflow": 0.0}.get(values, 0.5))
    # Skipped taps are skipped, not computed as FMAs of zeros: weights not
    # finite at the first and last column taps, which the outputs at the
    # row ends skip (0 * inf is NaN), from an input and from load(); a
    # -0.0 bias from an input over mostly -0.0 data; and sums that round
    # to -0.0 from products that underflow (+0.0 * w added to them would
    # give +0.0), without a bias, the weights from an input or load().
    for wvalues, values, bias, wsrc in (("edges", "normal", "input", "input"),
                                        ("edges", "normal", None, "input"),
                                        ("edges", "normal", "load", "load"),
                                        ("negzero", "negzero", "input", "input"),
                                        ("negzero", "negzero", None, "input"),
                                        ("underflow", "underflow", None, "input"),
                                        ("underflow", "underflow", None, "load")):
        p.begin("")
        v = conv_plane(p, rng, nsp=2, values=values, wvalues=wvalues, bias=bias, wsrc=wsrc, groups=1,
                       bias_values="negzero" if values == "negzero" else None,
                       K=int(pick(rng, [2, 6, 7, 13])), k=[3, int(pick(rng, [3, 5]))], pad="same",
                       d=[1, 1], H=int(pick(rng, [2, 5, 8])), W=int(pick(rng, [19, 23, 56])))
        finish(p, rng, v, {"negzero": 0.25, "underflow": 0.0}.get(values, 0.5))
    # the same for depthwise layers (conv-rows' sliding rows)
    for wvalues, values, bias in (("edges", "normal", "input"), ("negzero", "negzero", "input"),
                                  ("edges", "normal", None), ("underflow", "underflow", None)):
        p.begin("")
        C = int(pick(rng, [3, 8, 13]))
        v = conv_plane(p, rng, nsp=2, values=values, wvalues=wvalues, bias=bias, wsrc="input",
                       groups="depthwise", C=C, K=C, k=[3, 3], pad="same", d=[1, 1],
                       bias_values="negzero" if values == "negzero" else None,
                       H=int(pick(rng, [4, 7])), W=int(pick(rng, [14, 21, 30])))
        finish(p, rng, v, {"negzero": 0.25, "underflow": 0.0}.get(values, 0.5))
    # relu and clamps in the kernel's registers over sums that are mostly
    # -0.0: relu(-0.0) is +0.0 (the IEEE maximum), as the scalar nest gives,
    # and so are the clamps' bounds against zeros of either sign
    for ops in (["relu"], ["relu6"], ["clamp"], ["neg", "relu"], ["clamp", "neg", "relu6"]):
        p.begin("")
        v = conv_plane(p, rng, nsp=2, values="negzero", bias=pick(rng, ["input", "load"]),
                       bias_values="negzero", groups=1, K=int(pick(rng, [3, 8, 16])), k=[3, 3],
                       pad="same", H=int(pick(rng, [3, 5])), W=int(pick(rng, [16, 19, 56])))
        epilogue(p, rng, v, ops=ops)
    # max pools take each window row's taps as a tree: the IEEE maximum
    # must give the same bits whatever the grouping (-0 against +0, NaN)
    for values in ("negzero", "special", "negzero", "special"):
        p.begin("")
        v = pool(p, rng, nsp=2, is_max=True, values=values, k=[3, int(pick(rng, [2, 3, 5]))],
                 stride=[int(pick(rng, [1, 2])), int(pick(rng, [1, 2, 3]))],
                 H=int(pick(rng, [5, 9])), W=int(pick(rng, [17, 33, 40])))
        finish(p, rng, v, 0.25)
    return [p]


def random_plane_pair(p, rng, values):
    """Two conv-plane stages of the same output shape meeting in one
    elementwise stage (each could take it as its epilogue)."""
    nsp = 2 if rng.random() < 0.7 else 1
    fixed = dict(nsp=nsp, C=int(pick(rng, [1, 2, 3])), K=int(pick(rng, [1, 2, 4, 5, 9])), groups=1,
                 H=int(pick(rng, [1, 3, 5, 8])), W=int(pick(rng, [3, 7, 16, 17, 33])),
                 batch=pick(rng, [[], [], [2]]), pad="same", values=values)
    a = conv_plane(p, rng, **fixed)
    b = conv_plane(p, rng, **fixed)
    form = pick(rng, ["a + b", "relu(a) * b", "b - tanh(a)", "(a + b) * 0.5 |> relu"]
                if values != "scale" else ["a + b", "b - tanh(a)"])   # 1e30 * 1e30 overflows
    with np.errstate(all="ignore"):
        if form == "a + b":
            v = Val("", a.v + b.v, a.mag + b.mag, a.ieee and b.ieee)
        elif form == "relu(a) * b":
            v = Val("", np.maximum(a.v, 0) * b.v, (a.mag + np.abs(a.v)) * (b.mag + np.abs(b.v)), False)
        elif form == "b - tanh(a)":
            v = Val("", b.v - np.tanh(a.v), a.mag + b.mag, False)
        else:
            v = Val("", np.maximum((a.v + b.v) * 0.5, 0), a.mag + b.mag, False)
    p.output(form.replace("a", a.expr, 1).replace("b", b.expr, 1) if form != "b - tanh(a)"
             else f"{b.expr} - tanh({a.expr})", v)
    p.expect_epilogue(a.expr, None)
    p.expect_epilogue(b.expr, None)
    p.describe("pair: " + form)


def random_plane_chain(p, rng, values):
    """conv-plane -> elementwise -> conv-plane: the second kernel reads the
    first one's (fused) result from memory."""
    nsp = 2 if rng.random() < 0.7 else 1
    a = conv_plane(p, rng, nsp=nsp, pad="same", values=values, groups=1,
                   K=int(pick(rng, [1, 2, 3, 5])), W=int(pick(rng, [5, 16, 17, 30])),
                   H=int(pick(rng, [2, 5, 9])))
    op = pick(rng, [None, "relu", "leaky", "mul"])
    mid = a
    if op:
        v, _ = apply_op(p, rng, op, a)
        mid = p.bind(v.expr, v)
    p.expect_epilogue(a.expr, 1 if op else 0)
    b = conv_plane(p, rng, nsp=nsp, x=mid, groups=1, bias=None)
    finish(p, rng, b, 0.5)
    p.describe(f"chain through {op}")


def random_pipeline(rng, units):
    """Random units: mostly one stage of a random kind with a random
    epilogue; sometimes two kernel stages meeting or one feeding another."""
    p = Pipeline(rng, "random")
    names = list(STAGE_KINDS)
    wts = np.array([STAGE_KINDS[n][1] for n in names])
    for _ in range(units):
        p.begin("")
        values = pick(rng, ["normal"] * 6 + ["negzero", "scale", "special", "underflow"])
        u = rng.random()
        if u < 0.1:
            random_plane_pair(p, rng, values)
        elif u < 0.2:
            random_plane_chain(p, rng, values if values != "scale" else "normal")
        else:
            gen = STAGE_KINDS[names[int(rng.choice(len(names), p=wts / wts.sum()))]][0]
            v = gen(p, rng, values=values)
            finish(p, rng, v, 0.5)
    if rng.random() < 0.3:
        p.run_opts.append(f"--threads={int(rng.integers(1, 4))}")
    return p


def g_rows(rng):
    """conv-rows (x86-64-v3, kernels with column taps and known row widths;
    native: conv-plane): output rows narrower than a vector, at and around
    the vector and chunk boundaries, rows whose last chunk is short,
    channel blocks with a remainder, 1-D rows."""
    pipes, p = [], None
    widths = [1, 3, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 33, 40, 41, 63, 64, 65, 100, 161]
    kgs = [1, 2, 3, 5, 8, 9, 12, 16, 4, 7, 6, 11]
    for i, W in enumerate(widths):
        if p is None or len(p.units) >= 10:
            p = Pipeline(rng, "conv-rows widths")
            pipes.append(p)
        p.begin("")
        kg = kgs[i % len(kgs)]
        nk, nv = rows_block(kg, W, 8)
        nvec = -(-W // 8)
        k = pick(rng, [[3, 3], [1, 3], [3, 2], [2, 5], [5, 3], [3, 7]])
        pad = pick(rng, ["same", "same", "explicit"])
        v = conv_plane(p, rng, nsp=2, C=int(pick(rng, [1, 2, 3])), K=kg, groups=1, k=k,
                       d=[1, int(pick(rng, [1, 1, 2]))], pad=pad, H=int(pick(rng, [1, 2, 3, 5])),
                       W=W, batch=pick(rng, [[], [], [2]]))
        p.describe(f"row of {W}: {nvec} vectors in chunks of {nv}, last chunk {(nvec - 1) % nv + 1}, "
                   f"{kg} channels in blocks of {nk}")
        finish(p, rng, v, 0.3)
    p = Pipeline(rng, "conv-rows 1-D and grouped")
    pipes.append(p)
    for W, kg, groups in [(5, 3, 1), (17, 8, 1), (40, 9, 1), (33, 1, 4), (24, 2, 3), (9, 5, 2)]:
        p.begin("")
        nsp = 1 if groups == 1 else 2
        v = conv_plane(p, rng, nsp=nsp, C=groups * int(pick(rng, [1, 2])), K=kg * groups,
                       groups=groups, k=[int(pick(rng, [2, 3, 5]))] * nsp, W=W,
                       H=int(pick(rng, [2, 4])), pad="same")
        finish(p, rng, v, 0.3)
    # rows of more than 64 vectors (512 columns): the clean middle chunks run as a loop
    p.begin("")
    v = conv_plane(p, rng, nsp=1, C=1, K=2, groups=1, k=[3], d=[1], pad="same", W=517, batch=[],
                   bias=None, flip=False)
    p.describe("row of 517 columns: 65 vectors")
    finish(p, rng, v, 0)
    return pipes


def g_open_rows(rng):
    """conv-rows with a symbolic row width (x86-64-v3; native: conv-plane):
    rows narrower than a vector (one vector, its stores masked), narrower
    than the wide-row threshold (single vectors with run-time masks), at
    and past it (a first and a last chunk with fixed masks, clean chunks,
    single vectors and the one moved back before the last chunk), the two
    chunks overlapping; left and right pads up to past a chunk (then only
    the narrow form), output rows shorter than the input's (no width pad),
    even kernels, dilation, depthwise and channel blocks with a remainder,
    1-D rows, a symbolic height too."""
    pipes, p = [], None
    widths = [1, 5, 7, 8, 9, 15, 16, 23, 31, 32, 33, 40, 41, 42, 47, 48, 49, 56, 57, 64, 73, 100,
              129, 200]
    cases = [  # kg, groups, k, d, pad
        (1, "depthwise", [3, 3], [1, 1], "same"), (6, 1, [3, 3], [1, 1], "same"),
        (8, 1, [3, 5], [1, 2], "same"), (13, 1, [3, 3], [1, 1], [1, 0]),
        (1, "depthwise", [3, 4], [1, 1], "same"), (3, 1, [1, 7], [1, 3], "same"),
        (7, 1, [3, 2], [1, 1], "same"), (1, "depthwise", [5, 5], [1, 2], "explicit"),
        (6, 2, [3, 3], [1, 1], [1, 0]), (12, 1, [1, 3], [1, 1], [0, 0])]
    for i, W in enumerate(widths):
        if p is None or len(p.units) >= 8:
            p = Pipeline(rng, "conv-rows, symbolic row widths")
            pipes.append(p)
        p.begin("")
        kg, groups, k, d, pad = cases[i % len(cases)]
        C = int(pick(rng, [1, 2, 3])) if groups == 1 else (2 if groups == 2 else int(pick(rng, [3, 5])))
        if groups == 2:
            C = 4
        K = kg if groups == 1 else (kg * C if groups == "depthwise" else kg * groups)
        v = conv_plane(p, rng, nsp=2, C=C, K=K, groups=groups, k=k, d=d, pad=pad,
                       H=int(pick(rng, [1, 2, 4])), W=W, syms=pick(rng, ["W", "HW"]),
                       batch=pick(rng, [[], [], [2]]))
        nk, nv = rows_block(kg if groups != "depthwise" else K // C, None, 8)
        p.describe(f"row of {W} (a symbol): chunks of {nv} vectors, {nk} channels a block")
        finish(p, rng, v, 0.3)
    # one-vector chunks (8 x 1) with a left pad of 4: the clean vector moved
    # back before the last chunk starts at the pad's edge at the threshold
    p = Pipeline(rng, "conv-rows, symbolic row widths, at the wide-row threshold")
    pipes.append(p)
    for W in (17, 18, 19, 20, 21, 27):
        p.begin("")
        v = conv_plane(p, rng, nsp=2, C=2, K=8, groups=1, k=[3, 5], d=[1, 2], pad="same", H=2,
                       W=W, syms="W", batch=[])
        finish(p, rng, v, 0.3)
    p = Pipeline(rng, "conv-rows, symbolic row widths, 1-D")
    pipes.append(p)
    for W, kg, k, d in [(3, 2, 3, 1), (17, 5, 5, 1), (40, 8, 3, 2), (100, 1, 7, 1), (9, 3, 9, 2)]:
        p.begin("")
        v = conv_plane(p, rng, nsp=1, C=int(pick(rng, [1, 2])), K=kg, groups=1, k=[k], d=[d],
                       W=W, pad="same", syms="W", batch=[])
        finish(p, rng, v, 0.3)
    return pipes


def g_strided(rng):
    """Strided convolutions through phase planes: strides 2 to 4 per dim
    (and 1 in one dim), odd and even input sizes, pads 0 to k, dilation;
    conv-plane and (x86-64-v3) conv-rows; conv1x1 with strides 1 to 4 per
    dim and weights [K, C] and [K, C, 1, 1]."""
    pipes, p = [], None
    strides = [[2, 2], [3, 3], [4, 4], [2, 3], [1, 2], [2, 1], [4, 3], [3, 1], [2, 4], [4, 1],
               [2], [3], [4], [2]]
    for i, s in enumerate(strides):
        if p is None or len(p.units) >= 7:
            p = Pipeline(rng, "strides")
            pipes.append(p)
        p.begin("")
        nsp = len(s)
        k = [int(pick(rng, [1, 2, 3, 3, 4, 5])) for _ in range(nsp)]
        d = [int(pick(rng, [1, 1, 2, 3])) for _ in range(nsp)]
        pad = [int(rng.integers(0, k[j] + 1)) for j in range(nsp)]
        W = int(pick(rng, [5, 8, 9, 16, 17, 31, 32, 33, 47, 64, 65]))
        H = int(pick(rng, [4, 5, 8, 9, 12, 17]))
        v = conv_plane(p, rng, nsp=nsp, stride=s, k=k, d=d, pad=pad, W=W, H=H,
                       K=int(pick(rng, [1, 2, 3, 4, 5, 8, 9])), groups=pick(rng, [1, 1, 1, "depthwise"]))
        finish(p, rng, v, 0.3)
    return pipes + conv1x1_cases(rng)


def chan_units(rng, pipes, title, cases, per, negzero=lambda i: False):
    """One conv_plane unit per case (C, K, groups, k, stride, d, pad, H, W,
    batch, syms), per units a pipeline, appended to pipes.  negzero(i):
    case i's data mostly negative zeros, its bias an input of them (a tap
    outside the input added as w*0 would turn a -0.0 sum into +0.0)."""
    p = None
    for i, (C, K, groups, k, s, d, pad, H, W, batch, syms) in enumerate(cases):
        if p is None or len(p.units) >= per:
            p = Pipeline(rng, title)
            pipes.append(p)
        p.begin("")
        nz = negzero(i)
        v = conv_plane(p, rng, nsp=2, C=C, K=K, groups=groups, k=k, stride=s, d=d, pad=list(pad),
                       H=H, W=W, batch=batch, syms=syms, values="negzero" if nz else "normal",
                       bias="input" if nz else pick(rng, ["input", "load", "literal", None]),
                       flip=i % 4 == 1, wsrc="load" if i % 4 == 3 else "input",
                       pointwise=k == [1, 1] and i % 2 == 0)
        if i % 3 == 0:
            epilogue(p, rng, v, ops=["mul", "residual", "relu"])
        else:
            finish(p, rng, v, 0.3)


def g_chan(rng):
    """conv-chan (vectors of output channels): strided 2-D convolutions with
    a long reduction (Cg x taps >= 256).  Output channels a group below, at
    and past the channel block (16, 17, 24, 40, 64, 72 on AVX-512; the
    last block partly empty), row widths that leave a short last pixel
    block and rows narrower than one block, pads 0 to k (border variants
    on both sides, rows whose kernel rows fall outside), dilation, strides
    2 to 4, groups, batch > 1, flip, every bias source, blocks of more
    than 24 accumulators (column taps in a loop; on AVX2 more than 8),
    and epilogues with
    a residual (plain loads after the transposition to rows; gathers on
    AVX2 where a block has more pixels than lanes) -- on both targets; and
    beside them stride 1 with a dilation, which conv-chan takes where a
    512-bit FMA issues once a cycle (znver4), the plane kernel on other
    AVX-512 CPUs and the row kernel on AVX2.
    Weights are mostly inputs, packed by the call: by transposition (every
    row and column tail: Cg*taps and the group's channels not multiples of
    the vectors) by each channel block's item, in its first block of
    pixels, where the plane is small and there are 4 channel blocks or
    more of at most 1 MB (passes/pack.c), else in a nest of its own (few
    blocks, plane sizes bound at run time, large blocks); by gathers where
    flip reverses the taps."""
    pipes = []
    cases = [  # C, K, groups, k, stride, d, pad, H, W, batch
        (32, 16, 1, [3, 3], [2, 2], [1, 1], [1, 1], 9, 14, []),
        (32, 17, 1, [3, 3], [2, 2], [1, 1], [1, 1], 8, 15, []),
        (64, 24, 1, [3, 3], [2, 2], [1, 1], [0, 0], 7, 7, [2]),
        (30, 40, 1, [3, 3], [2, 2], [2, 2], [2, 2], 12, 23, []),
        (48, 64, 2, [3, 3], [2, 2], [1, 1], [1, 1], 10, 28, []),
        (16, 72, 1, [5, 5], [2, 2], [1, 1], [2, 2], 11, 31, []),
        (24, 16, 1, [3, 3], [3, 3], [1, 1], [3, 3], 13, 17, []),
        (12, 32, 1, [5, 5], [4, 4], [1, 1], [4, 4], 17, 9, [1, 2]),
        (32, 20, 1, [3, 3], [2, 1], [1, 2], [1, 2], 6, 19, []),
        (16, 33, 1, [7, 7], [2, 2], [1, 1], [3, 3], 16, 16, []),
        (272, 16, 1, [1, 1], [2, 2], [1, 1], [0, 0], 9, 13, []),
        (256, 32, 1, [1, 1], [2, 2], [1, 1], [0, 0], 4, 2, []),
        (32, 48, 1, [3, 3], [2, 2], [1, 1], [1, 1], 3, 3, []),
        (40, 17, 1, [3, 3], [2, 2], [1, 1], [1, 2], 7, 33, [3]),
        # weights packed by the work items (4 channel blocks or more):
        # a remainder block; blocks of several channel vectors where two
        # FMAs issue a cycle (300 channels: 8 blocks of 32 and more; 112:
        # 4 blocks of 32, the last half empty, or 7 of 16); groups; a
        # plane of one pixel, where the blocks that pack the weights are
        # all there is
        (32, 136, 1, [3, 3], [2, 2], [1, 1], [1, 1], 9, 12, []),
        (40, 112, 1, [3, 3], [2, 2], [1, 1], [1, 1], 9, 11, []),
        (64, 300, 1, [3, 3], [2, 2], [1, 1], [1, 1], 14, 14, [2]),
        (128, 160, 4, [3, 3], [2, 2], [1, 1], [1, 1], 7, 10, [2]),
        (40, 136, 1, [3, 3], [2, 2], [1, 1], [0, 0], 3, 4, [2]),
        # 2 x 14 and 2 x 13 blocks: the column taps in a loop, pixels at
        # both ends guarded by their tap range
        (32, 32, 1, [3, 3], [2, 2], [1, 1], [1, 1], 10, 27, [2]),
        (24, 64, 1, [3, 3], [2, 2], [1, 1], [1, 1], 9, 25, []),
        # stride 1 with a dilation (conv-chan on znver4, else the plane
        # kernel; the row kernel on AVX2): both dims or one, pads equal to
        # the dilation, smaller and larger, a remainder block, groups,
        # batch > 1
        (32, 16, 1, [3, 3], [1, 1], [2, 2], [2, 2], 9, 14, []),
        (64, 24, 1, [3, 3], [1, 1], [1, 2], [1, 2], 7, 19, [2]),
        (40, 17, 1, [3, 3], [1, 1], [3, 3], [3, 3], 12, 23, []),
        (64, 32, 2, [3, 3], [1, 1], [2, 2], [2, 2], 10, 16, []),
        (32, 20, 1, [3, 3], [1, 1], [2, 2], [1, 1], 11, 26, []),
        (16, 48, 1, [5, 5], [1, 1], [2, 2], [5, 5], 6, 30, []),
        # 1x1 at stride 1, which conv-chan takes where a 512-bit FMA
        # issues once a cycle (znver4) when the plane kernel's vectors
        # would leave more than 2% of their lanes empty (35 pixels; 9
        # blocks of runtime weights packed by the items, batch 2) or its
        # 16 weight rows would share an L1 set (1024 channels, 4 KB
        # apart); the plane kernel elsewhere
        (256, 136, 1, [1, 1], [1, 1], [1, 1], [0, 0], 5, 7, [2]),
        (1024, 24, 1, [1, 1], [1, 1], [1, 1], [0, 0], 4, 8, []),
        # stride 1 on small planes, which conv-chan takes where two
        # 512-bit FMAs issue a cycle when the plane kernel would idle more
        # than 2% of its lanes (plane_wasteful; 1x1: 10%): 7x7 (31%), 1x1
        # at 7x7 (23%, batch 2), 28x28 (2.4%); 24x42 (1.6%), 33x33 (past
        # CHAN_SMALL_PLANE) and 1x1 at 14x14 (5.8%) keep the plane kernel
        (32, 48, 1, [3, 3], [1, 1], [1, 1], [1, 1], 7, 7, []),
        (256, 32, 1, [1, 1], [1, 1], [1, 1], [0, 0], 7, 7, [2]),
        (256, 32, 1, [1, 1], [1, 1], [1, 1], [0, 0], 14, 14, []),
        (32, 32, 1, [3, 3], [1, 1], [1, 1], [1, 1], 28, 28, []),
        (32, 32, 1, [3, 3], [1, 1], [1, 1], [1, 1], 24, 42, []),
        (32, 32, 1, [3, 3], [1, 1], [1, 1], [1, 1], 33, 33, []),
        # a block past PACK_ITEMS_MAX_BYTES (1824 channels x 9 taps x 16
        # channels, 1.05 MB): the nest
        (1824, 128, 1, [3, 3], [2, 2], [1, 1], [1, 1], 3, 3, []),
        # short reductions at 1x1 where the plane kernel's spare lanes
        # cost more (CHAN_SPARE_LANES): conv-chan on znver4
        (32, 48, 1, [1, 1], [1, 1], [1, 1], [0, 0], 7, 7, [2]),
        (64, 40, 1, [1, 1], [1, 1], [1, 1], [0, 0], 6, 5, []),
        # depthwise layers on small planes: conv-chan over vectors of
        # channels on znver4 (planes transposed in each item), a last
        # block partly empty, batch 2, stride 2, 5x5, dilation 2
        (40, 40, 40, [3, 3], [1, 1], [1, 1], [1, 1], 9, 11, [2]),
        (24, 24, 24, [3, 3], [2, 2], [1, 1], [1, 1], 13, 12, []),
        (32, 32, 32, [5, 5], [1, 1], [1, 1], [2, 2], 7, 7, []),
        (48, 48, 48, [3, 3], [1, 1], [2, 2], [2, 2], 10, 9, []),
        # rows of at most 7 columns, sizes known, where a 512-bit FMA
        # issues once a cycle: whole rows a block (2 of 7, 4 of 3, 3 of
        # 4, 2 of 5), a last block of fewer rows, rows whose kernel rows
        # differ (padding 2 above a 3x3 kernel, dilation 2, 5x5), stride
        # 2, groups, batch 2, a remainder of output channels
        (64, 24, 1, [3, 3], [1, 1], [1, 1], [1, 1], 7, 7, []),
        (32, 40, 1, [3, 3], [2, 2], [1, 1], [1, 1], 14, 14, [2]),
        (48, 17, 1, [3, 3], [1, 1], [2, 2], [2, 2], 6, 3, []),
        (32, 32, 1, [5, 5], [1, 1], [1, 1], [2, 2], 11, 4, []),
        (64, 32, 2, [3, 3], [1, 1], [1, 1], [0, 0], 8, 6, []),
        (40, 16, 1, [3, 3], [1, 1], [1, 1], [2, 1], 5, 5, []),
        # a depthwise 1x1 at stride 1 on rows narrower than a vector: on
        # AVX2 conv-chan, its plane one row of 12 pixels
        (13, 13, 13, [1, 1], [1, 1], [1, 3], [0, 0], 6, 2, []),
    ]
    chan_units(rng, pipes, "channel vectors", [c + ("",) for c in cases], 5)
    # strided stems (a short reduction) followed by a max pool: conv-chan
    # with the pool fused over its ring of rows -- windows at both borders,
    # pool strides 1 to 3, dilation, ceil mode, activations between, a
    # remainder channel block, groups, batch > 1
    stems = [  # conv, pool
        (dict(C=3, K=64, k=[7, 7], stride=[2, 2], pad=[3, 3], H=40, W=46, batch=[2]),
         dict(k=[3, 3], stride=[2, 2], pad=[1, 1], d=[1, 1], ceil=False), "relu"),
        (dict(C=3, K=17, k=[3, 3], stride=[2, 2], pad=[1, 1], H=19, W=23),
         dict(k=[2, 2], stride=[2, 2], pad=[0, 0], d=[1, 1], ceil=False), ""),
        (dict(C=4, K=40, k=[5, 5], stride=[2, 2], pad=[2, 2], H=21, W=30),
         dict(k=[3, 3], stride=[1, 1], pad=[1, 1], d=[1, 1], ceil=False), "leaky"),
        (dict(C=2, K=16, k=[3, 3], stride=[2, 1], pad=[1, 1], H=25, W=17),
         dict(k=[2, 2], stride=[1, 1], pad=[1, 1], d=[2, 2], ceil=False), "relu"),
        (dict(C=3, K=24, k=[3, 5], stride=[3, 2], pad=[1, 2], H=31, W=29),
         dict(k=[3, 3], stride=[2, 3], pad=[1, 0], d=[1, 1], ceil=True), ""),
        (dict(C=6, K=32, groups=2, k=[3, 3], stride=[2, 2], pad=[1, 1], H=16, W=16),
         dict(k=[3, 3], stride=[2, 2], pad=[1, 1], d=[1, 1], ceil=False), "relu"),
        # stride 1 with a long reduction and a max pool after it (AVX-512)
        (dict(C=32, K=32, k=[3, 3], stride=[1, 1], pad=[1, 1], d=[1, 1], H=14, W=20),
         dict(k=[2, 2], stride=[2, 2], pad=[0, 0], d=[1, 1], ceil=False), "relu"),
        (dict(C=48, K=17, k=[3, 3], stride=[1, 1], pad=[1, 1], H=9, W=31, batch=[2]),
         dict(k=[3, 3], stride=[2, 2], pad=[1, 1], d=[1, 1], ceil=True), ""),
    ]
    p = Pipeline(rng, "channel vectors with a fused max pool")
    pipes.append(p)
    for i, (conv, pk, act) in enumerate(stems):
        p.begin("")
        conv = dict(conv, bias=pick(rng, ["input", "load", None]), wsrc="load" if i == 1 else "input",
                    flip=i == 2, values="special" if i == 4 else "normal")
        q = conv_pool(p, rng, conv=conv, pool_kw=dict(pk, is_max=True), act=act)
        if i == 3:
            epilogue(p, rng, q, ops=["residual", "mul"])
        else:
            p.output_val(q)
    # plane sizes bound at run time: blocks from column 0, the last before
    # the right border moved back (storing only its new columns), blocks
    # past it and rows narrower than a block in the general variant, left
    # border blocks with their fixed patterns; a stem's max pool fused over
    # rings in a scratch buffer, one a work item
    sym_cases = [  # C, K, groups, k, stride, d, pad, H, W, batch, syms
        (32, 16, 1, [3, 3], [2, 2], [1, 1], [1, 1], 9, 28, [], "HW"),
        (32, 32, 1, [3, 3], [2, 2], [1, 1], [1, 1], 10, 57, [2], "W"),
        (32, 32, 1, [3, 3], [2, 2], [1, 1], [1, 1], 5, 50, [], "W"),
        (32, 48, 1, [3, 3], [2, 2], [1, 1], [1, 1], 3, 3, [], "HW"),
        (16, 72, 1, [5, 5], [2, 2], [1, 1], [2, 2], 11, 31, [], "NHW"),
        (32, 16, 1, [3, 3], [3, 3], [1, 1], [3, 3], 13, 17, [], "HW"),
        (12, 32, 1, [5, 5], [4, 4], [1, 1], [4, 4], 17, 9, [1, 2], "NHW"),
        (32, 20, 1, [3, 3], [2, 1], [1, 2], [1, 2], 6, 19, [], "W"),
        (30, 40, 1, [3, 3], [2, 2], [2, 2], [2, 2], 12, 23, [], "H"),
        (272, 16, 1, [1, 1], [2, 2], [1, 1], [0, 0], 9, 13, [], "HW"),
        (64, 64, 1, [3, 3], [2, 2], [1, 1], [1, 1], 6, 125, [], "W"),
        (64, 34, 2, [3, 3], [2, 2], [1, 1], [0, 0], 8, 61, [], "HW"),
        # stride 1: on AVX2 a symbolic width with column taps is conv-chan
        # too (the row kernel needs the width); the plane kernel on AVX-512
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [1, 1], 9, 30, [], "HW"),
        (64, 24, 1, [3, 3], [1, 1], [2, 2], [2, 2], 7, 19, [2], "W"),
        (40, 17, 1, [3, 3], [1, 1], [1, 1], [0, 0], 6, 13, [], "W"),
        # rows of at most half a block (7x7 maps under blocks of 14): the
        # variants built for blocks of half as many pixels -- the left
        # border's (14 -> 7), one before the right border and one past it
        # (13 -> 7), a 1x1 wholly inside (14 -> 7), and a row one column
        # wider than that, which keeps the full blocks
        (64, 32, 1, [3, 3], [2, 2], [1, 1], [1, 1], 8, 14, [], "HW"),
        (48, 24, 1, [3, 3], [2, 2], [1, 1], [1, 1], 7, 13, [2], "W"),
        (272, 16, 1, [1, 1], [2, 2], [1, 1], [0, 0], 6, 14, [], "HW"),
        (32, 16, 1, [3, 3], [2, 2], [1, 1], [1, 1], 6, 16, [], "W"),
    ]
    chan_units(rng, pipes, "channel vectors, sizes bound at run time", sym_cases, 4)
    # stride 1 with widths bound at run time, a long reduction: the plane
    # kernel on AVX-512, with conv-chan's plan beside it for rows of 7, 14
    # and 28 where its work items pack runtime weights (8 channel blocks:
    # 128, 136, groups of 136) or the weights are constants (every fourth
    # case: load()); the row kernel on AVX2.  Rows narrower than, at and
    # past a block of 14 and its half, a remainder of one column (the
    # pad), dilation, pad 0 and 2, batch dims, groups, flipped taps
    s1_cases = [  # C, K, groups, k, stride, d, pad, H, W, batch, syms
        (32, 128, 1, [3, 3], [1, 1], [1, 1], [1, 1], 7, 7, [], "HW"),
        (32, 17, 1, [3, 3], [1, 1], [1, 1], [1, 1], 8, 8, [], "W"),
        (40, 128, 1, [3, 3], [1, 1], [1, 1], [1, 1], 5, 14, [2], "HW"),
        (32, 24, 1, [3, 3], [1, 1], [1, 1], [1, 1], 4, 7, [], "W"),
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [1, 1], 6, 5, [], "HW"),
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [1, 1], 3, 1, [], "W"),
        (32, 136, 1, [3, 3], [1, 1], [1, 1], [1, 1], 14, 14, [], "HW"),
        (36, 16, 1, [3, 3], [1, 1], [1, 1], [1, 1], 5, 14, [], "W"),
        (32, 40, 1, [3, 3], [1, 1], [1, 1], [1, 1], 4, 28, [], "HW"),
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [1, 1], 3, 29, [], "W"),
        (64, 272, 2, [3, 3], [1, 1], [1, 1], [1, 1], 4, 28, [], "HW"),
        (32, 16, 1, [3, 3], [1, 1], [2, 2], [2, 2], 6, 28, [], "W"),
        (32, 16, 1, [3, 3], [1, 1], [2, 2], [2, 2], 5, 17, [], "HW"),
        (12, 16, 1, [5, 5], [1, 1], [1, 1], [2, 2], 9, 9, [], "HW"),
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [0, 0], 5, 16, [], "W"),
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [0, 0], 4, 20, [2], "HW"),
        (32, 16, 1, [3, 5], [1, 1], [1, 1], [1, 3], 4, 41, [], "W"),
        (32, 16, 1, [3, 3], [1, 1], [1, 1], [1, 1], 6, 19, [], "W"),
        (32, 128, 1, [3, 3], [1, 1], [1, 1], [0, 0], 5, 9, [], "HW"),
        (30, 32, 1, [3, 3], [1, 1], [1, 1], [1, 1], 5, 28, [1, 2], "HW"),
    ]
    chan_units(rng, pipes, "stride 1, widths bound at run time, long reductions", s1_cases, 4)
    # ... and a stem of known size so wide (5,550 output columns) that its
    # ring would pass KL_STACK_MAX_BYTES: the rings go to scratch too
    p = Pipeline(rng, "channel vectors, stems of symbolic or very wide size and their max pool")
    pipes.append(p)
    for conv in (dict(C=3, K=64, k=[7, 7], stride=[2, 2], pad=[3, 3], H=40, W=46, syms="HW"),
                 dict(C=3, K=24, k=[3, 5], stride=[3, 2], pad=[1, 2], H=31, W=29, syms="W"),
                 dict(C=2, K=40, k=[5, 5], stride=[2, 2], pad=[2, 2], H=70, W=33, syms="HW",
                      batch=[2]),
                 dict(C=3, K=64, k=[7, 7], stride=[2, 2], pad=[3, 3], H=13, W=11100, batch=[]),
                 dict(C=32, K=16, k=[3, 3], stride=[1, 1], pad=[1, 1], H=14, W=20, syms="HW")):
        conv["d"] = [1, 1]
        p.begin("")
        q = conv_pool(p, rng, conv=dict(conv, bias="input", wsrc="input"),
                      pool_kw=dict(k=[3, 3], stride=[2, 2], pad=[1, 1], d=[1, 1], ceil=False,
                                   is_max=True), act="relu")
        p.output_val(q)
    return pipes


def g_wider(rng):
    """Output rows longer than the input's (padding wider than the kernel
    needs): phase planes at stride 1; 1x1 kernels with padding, full and
    wider pads, dilation, 1-D."""
    p = Pipeline(rng, "output wider than input")
    for k, pad, d, W in [([1, 1], [1, 1], [1, 1], 7), ([1, 1], [0, 2], [1, 1], 16), ([3, 3], "full", [1, 1], 17),
                         ([3, 3], "wide", [2, 1], 9), ([2, 2], [2, 2], [1, 1], 31), ([5, 5], "wide", [1, 1], 14),
                         ([3, 1], [1, 1], [1, 1], 8), ([3], "full", [3], 15), ([1], [2], [1], 5),
                         ([4], "wide", [2], 33)]:
        p.begin("")
        v = conv_plane(p, rng, nsp=len(k), k=k, pad=pad, d=d, W=W, H=int(pick(rng, [1, 3, 6])),
                       K=int(pick(rng, [1, 2, 4, 9])), stride=[1] * len(k))
        finish(p, rng, v, 0.3)
    return [p]


def conv1x1_cases(rng):
    """conv1x1 with strides 1 to 4 per dim (phase planes), weights [K, C] and
    [K, C, 1, 1], bias; conv-plane on both targets; and at 256 channels,
    conv-chan or (strided_plane) conv-plane."""
    p = Pipeline(rng, "conv1x1")
    for s, K, C, H, W in [([1, 1], 8, 3, 5, 17), ([2, 2], 9, 4, 7, 16), ([3, 3], 3, 2, 8, 33),
                          ([4, 4], 17, 5, 9, 40), ([2, 1], 4, 3, 6, 15), ([1, 3], 5, 8, 4, 64),
                          ([4, 2], 1, 2, 13, 9), ([2, 3], 12, 1, 5, 65)]:
        p.begin("")
        v = conv1x1(p, rng, stride=s, K=K, C=C, H=H, W=W)
        finish(p, rng, v, 0.4)
    # 256 channels in and out at stride 2: with one FMA a cycle the plane
    # kernel where whole vectors cover the output plane (16x16, 16x17),
    # conv-chan where they leave lanes to spare (14x14) or the output
    # channels are fewer; without mask registers the plane kernel
    q = Pipeline(rng, "strided conv1x1, 256 channels")
    for s, K, C, H, W in [([2, 2], 256, 256, 32, 32), ([2, 2], 256, 256, 28, 28),
                          ([2, 2], 128, 256, 32, 32), ([2, 2], 256, 256, 32, 34)]:
        q.begin("")
        v = conv1x1(q, rng, stride=s, K=K, C=C, H=H, W=W)
        finish(q, rng, v, 0.4)
    # the same with widths known at run time only: with one FMA a cycle
    # the plane kernel over phase planes, conv-chan's plan beside it taken
    # where the output rows are 7 or 14 wide (7x7, 14x14 below), the
    # plane kernel elsewhere; on AVX2 conv-chan
    for s, K, C, H, W, syms, batch in [([2, 2], 256, 256, 14, 14, "HW", []),
                                       ([2, 2], 256, 256, 20, 21, "W", []),
                                       ([2, 2], 256, 256, 28, 27, "HW", [2]),
                                       ([2, 1], 272, 256, 6, 9, "W", [])]:
        q.begin("")
        v = conv1x1(q, rng, stride=s, K=K, C=C, H=H, W=W, syms=syms, batch=batch)
        finish(q, rng, v, 0.4)
    # at least 512 input channels at stride 1 on planes whose size is not
    # a multiple of 4 floats: on x86-64-v3 the input copied to planes that
    # start whole lines (passes/layout.c), the places between them never
    # stored; a plane of a multiple of 4, 511 channels and a height symbol
    # read in place; batch 2, the planes a tile's last vectors cross
    r = Pipeline(rng, "conv1x1, 512 channels and more")
    for K, C, H, W, batch, syms in [(13, 512, 7, 7, [], ()), (7, 520, 3, 5, [2], ()),
                                    (9, 512, 1, 17, [], ()), (6, 512, 4, 5, [], ()),
                                    (5, 511, 7, 7, [], ()), (6, 512, 7, 7, [], ("H",))]:
        r.begin("")
        v = conv1x1(r, rng, stride=[1, 1], K=K, C=C, H=H, W=W, batch=batch, syms=syms)
        finish(r, rng, v, 0.4)
    return [p, q, r]


def g_pools(rng):
    """maxpool and avgpool, 2-D and 1-D (pool-rows): output rows around the
    vector width of both targets, strides 1 to 4, pads up to k/2, dilation
    (max), ceil_mode, count_pad, batch dims, size symbols; NaN, infinities,
    -0.0 and huge and tiny magnitudes; a pool of a pool."""
    pipes, p = [], None
    ows = [1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48]
    i = 0
    for is_max in (True, False):
        for ow in ows:
            if p is None or len(p.units) >= 12:
                p = Pipeline(rng, "pools")
                pipes.append(p)
            p.begin("")
            nsp = 1 if i % 4 == 3 else 2
            k = [int(pick(rng, [1, 2, 3, 3, 4, 5])) for _ in range(nsp)]
            s = [int(pick(rng, [1, 2, 2, 3, 4])) for _ in range(nsp)]
            pad = [int(rng.integers(0, k[j] // 2 + 1)) for j in range(nsp)]
            d = [int(pick(rng, [1, 1, 2, 3])) if is_max else 1 for _ in range(nsp)]
            ceil = bool(i % 3 == 1)
            # the input width that gives ow outputs
            W = max(1, (ow - 1) * s[-1] + d[-1] * (k[-1] - 1) + 1 - 2 * pad[-1])
            while pool_out(W, k[-1], s[-1], pad[-1], d[-1], ceil) < ow:
                W += 1
            syms = pick(rng, [(), (), (), "H", "W", "HW"]) if nsp == 2 else pick(rng, [(), "W"])
            v = pool(p, rng, nsp=nsp, is_max=is_max, k=k, stride=s, pad=pad, d=d, ceil=ceil,
                     count_pad=bool(i % 2), W=W, H=int(pick(rng, [1, 2, 5, 9])), syms=syms,
                     batch=pick(rng, [[], [], [2], [2, 3]]), C=int(pick(rng, [1, 3])))
            p.describe(f"{v.v.shape[-1]} outputs a row")
            finish(p, rng, v, 0.3)
            i += 1
    return pipes + pool_values(rng)


def pool_values(rng):
    """Pools over NaN, infinities, -0.0 and huge and tiny magnitudes (max
    propagates NaN; any two NaNs compare equal), and pools of pools."""
    p = Pipeline(rng, "pool values")
    for values in ("special", "negzero", "scale", "special"):
        for is_max in (True, False):
            p.begin("")
            v = pool(p, rng, is_max=is_max, values=values, nsp=2 if values != "scale" else 1,
                     pad=None, ceil=None)
            finish(p, rng, v, 0.3)
    p.begin("pool of a pool")
    a = pool(p, rng, nsp=2, is_max=True, values="special", k=[2, 2], stride=[1, 1], pad=[0, 0],
             d=[1, 1], H=9, W=21)
    p.output_val(pool(p, rng, nsp=2, is_max=False, x=a, k=[3, 3], stride=[2, 2], pad=[1, 1]))
    return [p]


def g_pool_fusion(rng):
    """conv (+ bias + relu) -> maxpool 2x2/2 and 3x3/2 pad 1, avgpool, fused
    into the convolution's tiles (passes/pool.c) where that is conv-plane:
    heights whose last strip of pooled rows is short, 1x1 convolutions
    (fused on x86-64-v3 too), strided convolutions, an epilogue after the
    pool, a strip too wide to fit, and where fusion must not happen."""
    pipes, p = [], None
    cases = [  # (H, W, K, k, pool): pooled rows, and rows a strip (16 / 8 lanes)
        (10, 7, 2, [3, 3], "2x2/2"),       # 5: 4 / -
        (8, 9, 5, [3, 3], "3x3/2p1"),      # 4: 3 / -
        (19, 7, 3, [3, 3], "3x3/2p1"),     # 10: 8 / -
        (6, 9, 8, [3, 3], "2x2/2"),        # 3: 2 / -
        (14, 7, 16, [3, 3], "3x3/2p1"),    # 7: 6 / -
        (10, 7, 1, [1, 1], "2x2/2"),       # 5: 4 / 2
        (18, 28, 1, [1, 1], "2x2/2"),      # 9: 8 / 4
        (66, 17, 1, [1, 1], "3x3/2p1"),    # 33: 22 / 23
        (8, 16, 4, [1, 1], "2x2/2"),       # 4: 3 / 3
        (24, 33, 8, [1, 1], "2x2/2"),      # 12: 8 / 8
        (9, 17, 5, [3, 3], "3x3/2p1"),     # 5: 5 / -, one strip
        (33, 16, 2, [5, 5], "2x2/2"),      # 16: 2 / -
        (6, 65, 8, [3, 3], "2x2/2")]       # 3: 1 / -
    if NATIVE_HALF_RATE:    # native blocks of 16 x 1 (one FMA a cycle): rows a strip (16 lanes)
        cases += [(6, 9, 5, [3, 3], "3x3/2p1"),    # 3: 2
                  (12, 7, 3, [3, 3], "3x3/2p1"),   # 6: 5
                  (8, 9, 8, [3, 3], "2x2/2"),      # 4: 3
                  (6, 16, 4, [1, 1], "2x2/2"),     # 3: 2
                  (34, 33, 8, [1, 1], "2x2/2"),    # 17: 16
                  (10, 12, 16, [3, 3], "2x2/2")]   # 5: 2
    pools = {"2x2/2": dict(k=[2, 2], stride=[2, 2], pad=[0, 0], d=[1, 1]),
             "3x3/2p1": dict(k=[3, 3], stride=[2, 2], pad=[1, 1], d=[1, 1])}
    short = {vl: 0 for vl in VLS}
    for i, (H, W, K, k, pk) in enumerate(cases):
        if p is None or len(p.units) >= 6:
            p = Pipeline(rng, "conv -> pool fusion")
            pipes.append(p)
        p.begin("")
        q = conv_pool(p, rng, conv=dict(H=H, W=W, K=K, k=k, pad="same", stride=[1, 1], C=int(pick(rng, [1, 2, 3])),
                                        bias=pick(rng, ["input", "load"]), batch=pick(rng, [[], [2]])),
                      pool_kw=dict(pools[pk], is_max=i % 4 != 3, ceil=False), act="relu",
                      bind=i % 2 == 1)
        for vl in VLS:
            f = expected_fusions(p.cur, vl)
            if q.expr in f:
                rows = f[q.expr][1]
                ph = q.v.shape[-2]
                short[vl] += ph % rows != 0
                p.describe(f"{vl} lanes: {ph} pooled rows in strips of {rows}")
        finish(p, rng, q, 0.3)
    # the sizes must keep hitting short last strips
    assert short[16] >= 8 and short[8] >= 4, short
    p = Pipeline(rng, "conv -> pool fusion, edge cases")
    pipes.append(p)
    p.begin("strided conv then pool")
    q = conv_pool(p, rng, conv=dict(H=19, W=23, K=4, k=[3, 3], stride=[2, 2], pad=[1, 1], C=2),
                  pool_kw=dict(pools["2x2/2"], is_max=True, ceil=False), act="relu")
    p.output_val(q)
    # 8 channels x 3 rows x 1100 columns is past 96 KiB: native does not fuse;
    # x86-64-v3's blocks of 4 channels fit
    p.begin("too wide for a strip")
    q = conv_pool(p, rng, conv=dict(H=4, W=1100, K=8, k=[1, 1], pad="same", stride=[1, 1], C=1, batch=[]),
                  pool_kw=dict(pools["3x3/2p1"], is_max=True, ceil=False), act="relu")
    p.output_val(q)
    p.begin("ceil-mode pool, no activation")
    q = conv_pool(p, rng, conv=dict(H=10, W=13, K=3, k=[3, 3], pad="same", stride=[1, 1], C=2),
                  pool_kw=dict(k=[3, 3], stride=[2, 2], pad=[0, 0], d=[1, 1], is_max=True, ceil=True),
                  act="")
    p.output_val(q)
    p.begin("pool strides (2, 3)")
    q = conv_pool(p, rng, conv=dict(H=21, W=25, K=7, k=[1, 1], pad="same", stride=[1, 1], C=2),
                  pool_kw=dict(k=[3, 3], stride=[2, 3], pad=[1, 0], d=[1, 1], is_max=True, ceil=False),
                  act="relu")
    p.output_val(q)
    # epilogue operands are read at the element's place in the full output,
    # also when the pool keeps the convolution's rows in a strip
    p.begin("residuals before and after the pool")
    c = conv_plane(p, rng, nsp=2, C=3, K=3, groups=1, k=[1, 1], pad="same", H=13, W=17, batch=[])
    r, _ = apply_op(p, rng, "residual", c, residual=p.last_input)
    r, _ = apply_op(p, rng, "relu", r)
    q = pool(p, rng, nsp=2, is_max=True, x=r, form=r.expr, k=[3, 3], stride=[2, 2], pad=[1, 1],
             d=[1, 1], ceil=False)
    p.expect_epilogue(c.expr, 2)
    p.expect_pool_fusion(c.expr, q.expr, q.v.shape[-2], 3, 1, 2)
    epilogue(p, rng, q, ops=["residual", "mul"])
    p.begin("dilated max pool")
    q = conv_pool(p, rng, conv=dict(H=14, W=20, K=5, k=[1, 1], pad="same", stride=[1, 1], C=3),
                  pool_kw=dict(k=[2, 2], stride=[1, 1], pad=[1, 1], d=[2, 2], is_max=True, ceil=False),
                  act="relu")
    p.output_val(q)
    # the convolution's result read again: the pool is not fused
    p.begin("activation read twice")
    c = conv_plane(p, rng, nsp=2, C=2, K=4, groups=1, k=[3, 3], pad="same", H=8, W=12, batch=[])
    r, _ = apply_op(p, rng, "relu", c)
    r = p.bind(r.expr, r)
    q = pool(p, rng, nsp=2, is_max=True, x=r, k=[2, 2], stride=[2, 2], pad=[0, 0], d=[1, 1], ceil=False)
    p.output_val(q)
    p.output(f"{r.expr} * 2", Val("", r.v * 2, r.mag * 2, False))
    p.expect_epilogue(c.expr, 1)
    p.begin("convolution is an output")
    c = conv_plane(p, rng, nsp=2, C=1, K=3, groups=1, k=[1, 1], pad="same", H=6, W=10, batch=[])
    q = pool(p, rng, nsp=2, is_max=False, x=c, k=[2, 2], stride=[2, 2], pad=[0, 0], ceil=False)
    p.output_val(c)
    p.output_val(q)
    p.begin("1-D pool after a 2-D conv")
    c = conv_plane(p, rng, nsp=2, C=2, K=3, groups=1, k=[1, 1], pad="same", H=5, W=16, batch=[])
    q = pool(p, rng, nsp=1, is_max=True, x=c, k=[2], stride=[2], pad=[0], d=[1], ceil=False)
    p.output_val(q)
    return pipes


def g_limits(rng):
    """Where the kernels stop: 64 taps still a kernel, 65 and 81 scalar;
    conv and pool stride 4 a kernel, 5 scalar; global pools scalar."""
    p = Pipeline(rng, "kernel limits")
    for k in ([8, 8], [9, 9], [64], [65], [5, 13]):
        p.begin("")
        v = conv_plane(p, rng, nsp=len(k), k=k, d=[1] * len(k), pad="same", C=1, K=2, groups=1,
                       W=int(pick(rng, [20, 70])), H=10)
        finish(p, rng, v, 0.3)
    for s in ([5, 5], [4, 4], [1, 5], [5]):
        p.begin("")
        v = conv_plane(p, rng, nsp=len(s), stride=s, k=[3] * len(s), pad=[1] * len(s), C=2, K=3,
                       groups=1, W=23, H=11)
        finish(p, rng, v, 0.3)
        p.begin("")
        v = pool(p, rng, nsp=len(s), stride=s, k=[3] * len(s), pad=[1] * len(s), W=23, H=11)
        finish(p, rng, v, 0.3)
    for g in ("max", "avg"):
        p.begin(f"global_{g}pool2d")
        x = p.input(data(rng, [2, 3, 5, 7], "special"))
        label = p.fresh("q")
        p.cur.lines.append(f"{label} = global_{g}pool2d({x.expr})")
        with np.errstate(invalid="ignore"):
            red = np.max if g == "max" else np.mean
            v = red(x.v, axis=(-2, -1), keepdims=True)
            mag = red(np.abs(x.v), axis=(-2, -1), keepdims=True)
        p.expect_scalar(label)
        p.output_val(Val(label, v, mag))
    return [p]


def g_random(rng):
    """Random units from every stage kind (the --many mode, a few of them)."""
    return [random_pipeline(rng, 8), random_pipeline(rng, 8)]


def g_dw_rows(rng):
    """conv-rows over depthwise layers (a channel's plane a work item, its
    input rows slid through, on both targets): rows of one vector
    and a short one, of several with a partial last (AVX2: 8 lanes), kernel
    rows in flight from 1 to 7 (1x1, 3x3, 5x5, 7x7, 3x5), dilation, pads 0
    to past the kernel (output rows that no input row reaches: their bias),
    unequal pads, planes past DW_UNROLL vectors (top rows, a loop over
    blocks of 8 rows and the rest; blocks of 2 vectors and a last single
    one), strides of 2 in either dim or both (5x5 on a plane past
    DW_CHAN_MAX_PIXELS), plane sizes bound at run time, batch > 1, every
    bias source, flip, epilogues."""
    cases = [  # C, K, groups, k, stride, d, pad, H, W, batch, syms
        (24, 24, 24, [3, 3], [1, 1], [1, 1], [1, 1], 14, 14, [], ""),
        (20, 20, 20, [3, 3], [1, 1], [1, 1], [1, 1], 9, 9, [2], ""),
        (17, 17, 17, [5, 5], [1, 1], [1, 1], [2, 2], 11, 28, [], ""),
        (16, 16, 16, [3, 3], [1, 1], [2, 2], [2, 2], 12, 21, [], ""),
        (8, 8, 8, [7, 7], [1, 1], [1, 1], [3, 3], 10, 13, [2], ""),
        (12, 12, 12, [3, 5], [1, 1], [1, 1], [0, 2], 6, 17, [], ""),
        (10, 10, 10, [3, 3], [1, 1], [1, 1], [4, 4], 5, 12, [], ""),
        (9, 9, 9, [1, 1], [1, 1], [1, 1], [0, 0], 7, 10, [], ""),
        (6, 6, 6, [3, 3], [1, 1], [1, 1], [1, 1], 57, 40, [], ""),
        (4, 4, 4, [5, 5], [1, 1], [1, 1], [2, 2], 45, 83, [2], ""),
        (5, 5, 5, [3, 3], [1, 1], [1, 1], [0, 0], 40, 112, [], ""),
        (16, 16, 16, [3, 3], [1, 1], [1, 1], [1, 1], 14, 6, [], ""),
        # strides: each column tap's lanes read sx apart (a strided load,
        # its mask also where the load's span passes the row), each input
        # row reaching the output rows whose row it is at stride sy
        (24, 24, 24, [3, 3], [2, 2], [1, 1], [1, 1], 28, 28, [], ""),
        (10, 10, 10, [3, 3], [2, 2], [1, 1], [1, 1], 27, 35, [2], ""),
        (7, 7, 7, [3, 3], [2, 1], [1, 1], [1, 1], 21, 19, [], ""),
        (9, 9, 9, [3, 3], [1, 2], [1, 1], [0, 1], 9, 41, [], ""),
        (3, 3, 3, [5, 5], [2, 2], [1, 1], [2, 2], 70, 66, [], ""),
        (6, 6, 6, [3, 3], [2, 2], [2, 2], [3, 3], 40, 36, [], ""),
        # plane sizes bound at run time (AVX-512, and the strided ones on
        # x86-64-v3, in blocks of 4 rows): vectors wholly inside without masks and the
        # others with theirs, blocks of 8 rows and a partial last one,
        # input rows outside tested at run time, rows narrower than a
        # vector, output rows that no input row reaches
        (12, 12, 12, [3, 3], [1, 1], [1, 1], [1, 1], 19, 40, [], "HW"),
        (7, 7, 7, [5, 5], [1, 1], [1, 1], [2, 2], 13, 9, [2], "NHW"),
        (9, 9, 9, [3, 3], [2, 2], [1, 1], [1, 1], 23, 45, [], "W"),
        (5, 5, 5, [3, 3], [1, 2], [2, 1], [1, 1], 17, 37, [], "H"),
        (6, 6, 6, [3, 3], [1, 1], [1, 1], [3, 3], 4, 20, [], "HW"),
    ]
    pipes = []
    chan_units(rng, pipes, "depthwise rows", cases, 4, negzero=lambda i: i % 3 == 1)
    return pipes


GROUPS = {
    "plane2d-narrow": g_plane2d_narrow,
    "plane2d-wide": g_plane2d_wide,
    "plane1d": g_plane1d,
    "channels": g_channels,
    "groups": g_groups,
    "taps": g_taps,
    "batch": g_batch,
    "symbols": g_symbols,
    "bias-flip": g_bias_flip,
    "epilogue": g_epilogue,
    "fusion": g_fusion,
    "values": g_values,
    "rows": g_rows,
    "strided": g_strided,
    "chan": g_chan,
    "wider": g_wider,
    "pools": g_pools,
    "pool-fusion": g_pool_fusion,
    "limits": g_limits,
    "random": g_random,
    "open-rows": g_open_rows,
    "dw-rows": g_dw_rows,
}
GROUP_ID = {g: i for i, g in enumerate(GROUPS)}


# ---------------------------------------------------------------------------
# running and comparing
# ---------------------------------------------------------------------------

MODES = [  # (name, extra options, kernels expected)
    ("native scalar", ["--no-kernels"], False),
    ("native kernels", ["--dump=schedule"], True),
    ("x86-64-v3 scalar", [f"--target-cpu={V3}", "--no-kernels"], False),
    ("x86-64-v3 kernels", [f"--target-cpu={V3}", "--dump=schedule"], True),
]


def run(cmd, cwd):
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired:
        return None, "", "timed out"


def write_case(p, units, d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "script.conv"), "w") as f:
        f.write(p.script(units))
    for u in units:
        for n, a in u.inputs.items():
            np.save(os.path.join(d, f"in_{n}.npy"), a)
        for fn, a in u.files.items():
            np.save(os.path.join(d, fn), a)


def command(convc, p, units, outdir, extra):
    cmd = [convc, "run", "script.conv"]
    for u in units:
        cmd += [f"{n}=in_{n}.npy" for n in u.inputs]
    for u in units:
        for o in u.outputs:
            cmd += ["-o", f"{o}={os.path.join(outdir, o + '.npy')}"]
    return cmd + p.run_opts + extra


def same_bits(a, b):
    """Bitwise equal, except that any two NaNs are equal."""
    if a.shape != b.shape:
        return None
    eq = a.view(np.uint32) == b.view(np.uint32)
    return eq | (np.isnan(a) & np.isnan(b))


def show(v):
    v = np.float32(v)
    return f"{float(v)!r} (0x{int(np.array(v).view(np.uint32)):08x})"


def bit_diff(name, a, b, mode_a, mode_b):
    eq = same_bits(a, b)
    if eq is None:
        return f"output {name}: shape {list(a.shape)} ({mode_a}) vs {list(b.shape)} ({mode_b})"
    if eq.all():
        return None
    bad = np.argwhere(~eq)
    i = tuple(int(t) for t in bad[0])
    return (f"output {name} {list(a.shape)}: {len(bad)} of {eq.size} elements differ, first at {list(i)}: "
            f"{mode_a} {show(a[i])}, {mode_b} {show(b[i])}; differing indices (first 8): "
            f"{[list(map(int, t)) for t in bad[:8]]}")


def ref_diff(name, got, val, mode):
    if got.shape != val.v.shape:
        return f"output {name}: shape {list(got.shape)} ({mode}), reference {list(val.v.shape)}"
    g = got.astype(np.float64)
    ref, mag = val.v, val.mag
    fin = np.isfinite(ref)
    with np.errstate(invalid="ignore", over="ignore"):
        tol = RTOL * (np.abs(np.where(fin, ref, 0)) + np.where(fin, mag, 0)) + 1e-37
        ok_f = np.isfinite(g) & ((g == ref) | (np.abs(g - np.where(fin, ref, 0)) <= tol))
        if not val.ieee:
            # a finite reference whose magnitude is not (a NaN through a
            # stage whose NaN behaviour the language does not promise, then
            # multiplied by 0): not determined, not checked
            ok_f |= ~np.isfinite(mag)
    ok_nf = (np.isnan(ref) & np.isnan(g)) | (ref == g) if val.ieee else np.ones(ref.shape, bool)
    ok = np.where(fin, ok_f, ok_nf)
    if ok.all():
        return None
    bad = np.argwhere(~ok)
    i = tuple(int(t) for t in bad[0])
    return (f"output {name} {list(ref.shape)} ({mode}) vs the float64 reference: {len(bad)} of {ok.size} "
            f"elements off, first at {list(i)}: got {float(g[i])!r}, expected {float(ref[i])!r} "
            f"(tolerance {float(tol[i]) if fin[i] else 0!r})")


SCHED_LINE = re.compile(
    r"^  (?P<label>\S+)\s+(?P<desc>.*?)\s+(?:fused into (?P<into>\S+)|"
    r"(?:\(fused into (?P<pinto>\S+)\) )?(?P<kernel>scalar|conv-plane|conv-rows|conv-chan|pool-rows|stencil-rows)"
    r"(?: (?P<nk>\d+)x(?P<nv>\d+)| \d+ rows x \d+ vectors)?"
    r"(?P<flags>(?:, separable \(row pass, then column pass, in strips(?: of \d+-column tiles)?\)|, input in phase planes"
    r"|, input planes copied to whole lines"
    r"|, \d+ groups an item|, column taps in a loop|, the plane as one row|, \d+ rows a block"
    r"|, depthwise planes transposed|, depthwise planes by sliding rows|, row tails in pairs|, packed weights"
    r"|, weights packed by the work items|, materialised)*)"
    r"(?:, epilogue (?P<epi>.*?))?"
    r"(?:, then (?P<pool>.+) on tiles of (?P<prows>\d+) pooled rows)?"
    r"(?:, parallel over output dims (?P<par>\d+\.\.\d+))?"
    r"(?:; rows of (?P<altw>[0-9, or]+): conv-chan (?P<ank>\d+)x(?P<anv>\d+)"
    r"(?P<aflags>(?:, column taps in a loop|, weights packed by the work items|, packed weights)*))?)$")


def parse_schedule(text):
    """The schedule after the last pass: (lanes, {label: fields}, lines not understood)."""
    parts = re.split(r"^schedule after \S+ \(target \S+, (\d+)-lane vectors\):\n", text, flags=re.M)
    if len(parts) < 3:
        return None, {}, []
    lanes, body = int(parts[-2]), parts[-1]
    stages, odd = {}, []
    for line in body.splitlines():
        if not line.startswith("  "):
            break
        m = SCHED_LINE.match(line)
        if m:
            stages[m.group("label")] = m.groupdict()
        else:
            odd.append(line)
    return lanes, stages, odd


def expected_fusions(u, lanes):
    """{pool label: (conv label, pooled rows a work item)} that passes/pool.c
    makes at this many lanes, by the size model."""
    out = {}
    for e in u.expect:
        f = e["kind"] == "conv" and e["pool"]
        if not f:
            continue
        g = e["geom"]
        kern, blk = g.choice(lanes)
        pe = [q for q in u.expect if q["label"] == f["label"]][0]
        if kern == "conv-chan":
            # passes/pool.c: max pools only, about CHAN_ITEMS chunks of
            # pooled rows a channel block, or CHAN_OPEN_POOL_ROWS pooled
            # rows an item when the height is a symbol
            if g.max_pool_next:
                blocks = g.groups * -(-g.kg // blk[0])
                chunks = -(-CHAN_ITEMS // blocks)
                rows = -(-f["ph"] // chunks) if g.oh is not None else CHAN_OPEN_POOL_ROWS
                out[f["label"]] = (e["label"], rows)
            continue
        if (kern != "conv-plane" or g.nsp != 2 or g.ow is None or g.oh is None
                or max(pe["stride"]) > MAX_KERNEL_STRIDE):
            continue
        rows = fused_pool_rows(blk[0], blk[1], lanes, g.oh, g.ow, f["ph"], f["k"], f["d"], f["st"])
        if rows:
            out[f["label"]] = (e["label"], rows)
    return out


def check_schedule(p, units, text, mode):
    lanes, st, odd = parse_schedule(text)
    if lanes is None:
        return [f"{mode}: no schedule in the --dump=schedule output"]
    errs = []
    n_epi = sum(len(s["epi"].split(" -> ")) for s in st.values() if s.get("epi"))
    n_fused = sum(1 for s in st.values() if s.get("into"))
    if n_epi != n_fused:
        errs.append(f"{mode}: the epilogues name {n_epi} elementwise stages in all, but 'fused into' "
                    f"appears {n_fused} times (a stage fused into two producers?)")
    for u in units:
        fusions = expected_fusions(u, lanes)
        fused_conv = {c: (q, rows) for q, (c, rows) in fusions.items()}
        for e in u.expect:
            label = e["label"]
            s = st.get(label)
            where = f"{mode}: unit {u.uid}, stage {label}"
            if s is None:
                errs.append(f"{where}: not in the schedule" +
                            (f" (lines not understood: {odd})" if odd else ""))
                continue
            if e["kind"] == "conv":
                kernel, blk = e["geom"].choice(lanes)
            elif e["kind"] == "scalar":
                kernel, blk = "scalar", None
            else:
                kernel, blk = ("pool-rows" if max(e["stride"]) <= MAX_KERNEL_STRIDE else "scalar"), None
            if s["kernel"] != kernel:
                errs.append(f"{where}: got {s['into'] and 'fused into ' + s['into'] or s['kernel']}, "
                            f"expected kernel {kernel}" +
                            (" (the test would test nothing)" if kernel != "scalar" else ""))
                continue
            got = (int(s["nk"]), int(s["nv"])) if s["nk"] else None
            if got != blk:
                errs.append(f"{where}: register block {got}, the size model expects {blk} at {lanes} "
                            f"lanes for {e['geom'].kg} channels a group and rows of "
                            f"{e['geom'].ow} (update the size model so that the sizes chosen still "
                            f"hit the tails)")
            flags = s["flags"] or ""
            want_alt = e["geom"].chan_alt(lanes) if kernel == "conv-plane" else None
            got_alt = (int(s["ank"]), int(s["anv"])) if s.get("ank") else None
            if got_alt != want_alt:
                errs.append(f"{where}: conv-chan beside the plane kernel {got_alt}, expected {want_alt}")
            elif got_alt:
                widths = CHAN_ALT_WIDTHS[:2] if any(st > 1 for st in e["geom"].stride) else CHAN_ALT_WIDTHS
                if s["altw"] != ", ".join(str(w) for w in widths[:-1]) + f" or {widths[-1]}":
                    errs.append(f"{where}: conv-chan for rows of {s['altw']}, expected {widths}")
                if "column taps in a loop" not in s["aflags"]:
                    errs.append(f"{where}: conv-chan beside the plane kernel without its column-tap loop")
                want_items = getattr(e["geom"], "w_input", False)
                if ("weights packed by the work items" in s["aflags"]) != want_items:
                    errs.append(f"{where}: conv-chan beside the plane kernel: weights "
                                f"{'not ' * want_items}packed by the work items")
            if kernel == "conv-chan":
                g = e["geom"]
                loop = ((blk[0] // lanes) * blk[1] > (24 if vregs(lanes) >= 32 else 8)
                        or chan_one_vector(lanes, g.ow, g.max_pool_next))
                if ("column taps in a loop" in flags) != loop:
                    errs.append(f"{where}: column taps {'not ' * loop}in a loop for block {blk}")
                row = g.plane_row()
                if ("the plane as one row" in flags) != row:
                    errs.append(f"{where}: the plane {'not ' * row}taken as one row")
                rows = g.chan_rows(lanes)
                m = re.search(r", (\d+) rows a block", flags)
                if (int(m.group(1)) if m else 0) != rows:
                    errs.append(f"{where}: {m.group(1) if m else 'no'} rows a block, expected {rows or 'none'}")
                dw = g.dw_chan(lanes)
                if ("depthwise planes transposed" in flags) != dw:
                    errs.append(f"{where}: depthwise planes {'not ' * dw}transposed")
            if kernel == "conv-rows":
                dw = e["geom"].dw_rows(lanes)
                if ("depthwise planes by sliding rows" in flags) != dw:
                    errs.append(f"{where}: depthwise planes {'not ' * dw}by sliding rows")
                pair = e["geom"].rows_pair(lanes)
                if ("row tails in pairs" in flags) != pair:
                    errs.append(f"{where}: row tails {'not ' * pair}in pairs")
            if kernel.startswith("conv-"):
                ph = e["geom"].phases(lanes)
                if ("phase planes" in flags) != ph:
                    errs.append(f"{where}: input {'not ' * ph}in phase planes, "
                                f"expected {'' if ph else 'not '}(stride "
                                f"{e['geom'].stride}, output rows longer than input rows?)")
                li = e["geom"].lines(lanes)
                if ("copied to whole lines" in flags) != li:
                    errs.append(f"{where}: input planes {'not ' * li}copied to whole lines")
                # a runtime weight is packed for the channel-vector kernel
                # only, by its work items on output planes of at most 1024
                # pixels or of a size known at run time only where they can
                # (items_pack), unless a pool is fused or the block is not
                # whole vectors; the others read it in place (passes/pack.c)
                g = e["geom"]
                w_input = getattr(g, "w_input", False)
                want_packed = kernel == "conv-chan" or not w_input
                small = g.ow is None or g.oh is None or g.ow * g.oh <= 1024
                want_items = (kernel == "conv-chan" and w_input and label not in fused_conv and small
                              and g.items_pack(blk[0]) and blk[0] % lanes == 0 and not g.dw_chan(lanes))
                got_items = "weights packed by the work items" in flags
                if ("packed weights" in flags or got_items) != want_packed:
                    errs.append(f"{where}: weights {'not ' * want_packed}packed")
                elif got_items != want_items:
                    errs.append(f"{where}: weights {'not ' * want_items}packed by the work items")
            want_pool = fused_conv.get(label)
            got_pool = (s["pool"], int(s["prows"])) if s["pool"] else None
            if (want_pool is None) != (got_pool is None) or want_pool and got_pool[1] != want_pool[1]:
                errs.append(f"{where}: pool fused {got_pool and '%s on tiles of %d pooled rows' % got_pool}, "
                            f"the size model expects "
                            f"{want_pool and '%s on tiles of %d pooled rows' % want_pool}")
            if e["kind"] == "pool":
                want = fusions.get(label, (None,))[0]
                if s["pinto"] != want:
                    errs.append(f"{where}: fused into {s['pinto']}, expected {want}")
            want = e["epi"] if kernel != "scalar" or e["epi"] is None else 0   # nothing fuses into a scalar nest
            if want is not None:
                got = len(s["epi"].split(" -> ")) if s["epi"] else 0
                if got != want:
                    errs.append(f"{where}: {got} elementwise stages fused ({s['epi']}), "
                                f"expected {want}")
    return errs


def check_units(convc, p, units, tmp):
    """Run units of p in the four modes; returns a list of failure strings."""
    d = os.path.join(tmp, "case")
    shutil.rmtree(d, ignore_errors=True)
    write_case(p, units, d)
    results = {}
    errs = []
    for name, extra, kernels in MODES:
        outdir = os.path.join(tmp, "out-" + name.replace(" ", "-"))
        shutil.rmtree(outdir, ignore_errors=True)
        os.makedirs(outdir)
        rc, out, err = run(command(convc, p, units, outdir, extra), d)
        if rc != 0:
            errs.append(f"{name}: convc run exit {rc}: {err.strip()[:800]}")
            continue
        got = {}
        for u in units:
            for o in u.outputs:
                got[o] = np.load(os.path.join(outdir, o + ".npy"))
        results[name] = got
        if kernels:
            errs += check_schedule(p, units, out, name)
    for a, b in (("native scalar", "native kernels"), ("x86-64-v3 scalar", "x86-64-v3 kernels")):
        if a in results and b in results:
            for u in units:
                for o in u.outputs:
                    why = bit_diff(o, results[a][o], results[b][o], a, b)
                    if why:
                        errs.append(f"unit {u.uid}: {why}")
    for a in ("native scalar", "x86-64-v3 scalar"):
        if a in results:
            for u in units:
                for o, val in u.outputs.items():
                    why = ref_diff(o, results[a][o], val, a)
                    if why:
                        errs.append(f"unit {u.uid}: {why}")
    return known_bugs(units, errs)


# Compiler bugs the tests found and that are not fixed yet: the unit marked
# with the key (Pipeline.known_bug) must show exactly this mismatch (kernel
# against scalar on the target named), which is then reported on every run
# but is not a failure; once the bug is fixed the mark must go.
KNOWN_BUGS = {}
KNOWN_SEEN = {}


def known_bugs(units, errs):
    out = list(errs)
    for u in units:
        if not u.known:
            continue
        target, what = KNOWN_BUGS[u.known]
        mine = [e for e in errs if e.startswith(f"unit {u.uid}: output ")
                and f"{target} scalar" in e and f"{target} kernels" in e]
        if mine:
            out = [e for e in out if e not in mine]
            KNOWN_SEEN[u.known] = what
        else:
            out.append(f"unit {u.uid}: known compiler bug '{u.known}' no longer shows ({what}): "
                       f"remove its mark from the unit")
    return out


def failing_units(p, errs):
    ids = set()
    for e in errs:
        m = re.match(r"unit (\d+):", e) or re.search(r": unit (\d+), stage", e)
        if m:
            ids.add(int(m.group(1)))
    return [p.units[i] for i in sorted(ids)]


def report(convc, p, errs, tag, tmp, keep):
    """Print a failure; rerun each failing unit alone and print the smallest
    pipeline that still fails (the unit, or else the whole pipeline) as a
    script with its command lines; with keep, save it with a repro.sh."""
    print(f"FAIL {tag}: {p.title}")
    for e in errs:
        print("  " + e)
    units = failing_units(p, errs)
    cases = []
    whole = not units            # no unit named: show the whole pipeline
    for u in units:
        alone = check_units(convc, p, [u], tmp)
        print(f"  unit {u.uid} alone: {'still fails' if alone else 'passes (fails only with the others)'}")
        for e in alone:
            print("    " + e)
        if alone:
            cases.append((f"u{u.uid}", [u], alone))
        else:
            whole = True
    if whole:
        cases.append(("all", p.units, errs))
    for name, shown, why in cases:
        for line in p.script(shown).splitlines():
            print("  | " + line)
        print("  inputs: " + ", ".join(f"{n} {list(a.shape)}" for s in shown for n, a in s.inputs.items()))
        print("  reproduce: " + " ".join(command("convc", p, shown, "out", [])) +
              "   vs the same with --no-kernels   (and both with --target-cpu=x86-64-v3)")
        if not keep:
            continue
        dd = os.path.join(keep, f"{tag.replace(' ', '_')}_{name}")
        write_case(p, shown, dd)
        with open(os.path.join(dd, "repro.sh"), "w") as f:
            f.write("#!/bin/sh\n# " + "\n# ".join(why) + "\n")
            f.write('# usage: sh repro.sh [CONVC]   (cmp reports the first differing byte)\n'
                    'cd "$(dirname "$0")"; convc=${1:-convc}\nmkdir -p out-k out-s\n')
            base = " ".join(command('"$convc"', p, shown, "OUT", []))
            for extra in ("", f" --target-cpu={V3}"):
                f.write(f"echo '== {extra.strip() or 'native'}'\n")
                f.write(f"{base.replace('OUT', 'out-k')}{extra}\n")
                f.write(f"{base.replace('OUT', 'out-s')}{extra} --no-kernels\n")
                f.write('for f in out-k/*.npy; do cmp "$f" "out-s/${f#out-k/}"; done\n')
        print(f"  saved to {dd}")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("convc", nargs="?")
    ap.add_argument("--group", choices=list(GROUPS) + ["all"])
    ap.add_argument("--many", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    if args.list:
        for g, f in GROUPS.items():
            print(f"{g:16} {f.__doc__.splitlines()[0] if f.__doc__ else ''}")
        return
    if not args.convc or (args.group is None) == (args.many is None):
        ap.error("give CONVC and one of --group or --many")
    convc = os.path.abspath(args.convc)
    global NATIVE_HALF_RATE
    NATIVE_HALF_RATE = native_cpu(convc) == "znver4"
    jobs = []
    if args.group:
        for g in (GROUPS if args.group == "all" else [args.group]):
            rng = np.random.default_rng([args.seed, GROUP_ID[g]])
            jobs += [(f"{g} seed {args.seed} pipeline {i}", p) for i, p in enumerate(GROUPS[g](rng))]
    else:
        for i in range(args.many):
            rng = np.random.default_rng([args.seed, i, 1000])
            p = random_pipeline(rng, int(rng.integers(3, 9)))
            jobs.append((f"random seed {args.seed} pipeline {i}", p))
    passed = failed = stages = 0
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="convc-kernels-") as tmp:
        for tag, p in jobs:
            stages += p.nstages()
            errs = check_units(convc, p, p.units, tmp)
            if errs:
                failed += 1
                report(convc, p, errs, tag, tmp, args.keep)
            else:
                passed += 1
                if args.v:
                    print(f"ok   {tag}: {p.title}, {len(p.units)} units")
                    for u in p.units:
                        print(f"       unit {u.uid}: {u.desc}")
    for key, what in sorted(KNOWN_SEEN.items()):
        print(f"KNOWN BUG {key} (still there, not counted as a failure): {what}")
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(f"# {time.time() - t0:.1f} s; CPU: convc {ch.ru_utime + ch.ru_stime:.1f} s, "
          f"this script {me.ru_utime + me.ru_stime:.1f} s")
    print(f"{len(jobs)} pipelines ({stages} stages): {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
