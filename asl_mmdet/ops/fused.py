"""Fused Triton Asymmetric Loss: one pass over the logits for the loss and its gradient.

The forward kernel reads each logit once and writes, in the same pass, the loss (per-program
partial sums for a reduced loss, or the (N, C) element-wise loss) and the gradient with respect
to the logits, already multiplied by the weights and the reduction's scale (Liger-Kernel's
cross-entropy design). Backward only multiplies that stored gradient by ``grad_output``, in
place, with a kernel that reads ``grad_output`` on the device and does nothing when it is 1.
For float16 logits the reduction's scale (``1 / N`` for a mean) is left to backward instead:
folded into float16 gradients it would flush the small ones to zero before a GradScaler's
factor (in grad_output) could lift them.

Layout: each program owns ``BLOCK_N`` rows and a range of columns that it walks in
``BLOCK_C``-wide tiles, so row and column indices come from the program id and the loop counter
(no integer division per element) and non-contiguous inputs are read through their strides;
each thread holds 8 elements per tile, contiguous along a row (128-bit loads and stores where
a row's elements are contiguous). Everything constant along a row (alpha, the row's weight,
the scales, the labelled element's positive term for class indices) is computed once per row,
outside the loop; a reduced loss accumulates unscaled element terms.

Math is in float32 from one ``e = exp(-|z|)`` per element: ``p`` and ``1 - p`` keep full
relative precision, ``log(1 - p)`` and ``log(p)`` come from one shared ``log1p(e)`` in log
space (finite losses and gradients for logits of any finite size), and with a margin one
reciprocal serves ``p``, ``1 / (1 - p_m)`` and ``p (1 - p) / (1 - p_m)``. Compiled, ``exp2``,
``log2`` and the reciprocal are the GPU's one-instruction approximations (MUFU, relative
error of a few ulps; ``log2`` absolute error about 2^-22 near 1); under the interpreter they
are exact. A NaN logit gives a NaN loss and gradient at its element in every variant (unless
its label is ignored, below).

A dense label of -1 marks an unknown element: the kernel selects exact zeros for its loss and
gradient (whatever its logit) and leaves it out of the probability sums. A per-class weight
(``class_weight``) is read as a (C,) vector, once per tile of columns, and multiplies the
element weights.

Labels are range-checked inside the kernel: a program that sees one out of range clears a
device flag that the host asserts on with ``torch._assert_async`` (no host synchronisation).
The reduced loss is the sum of a fixed-size buffer of per-program partial sums, so it is
bit-identical from run to run (no float atomics).

Behind the ``PROB_SUMS`` flag (off by default: the kernel compiled without it is unchanged) the
same pass also accumulates the four weighted sums of the paper's probability analysis
(Sec. 2.6, :mod:`asl_mmdet.ops.probability_analysis`) from the ``p`` and ``1 - p`` it computes
anyway, into per-program partials that the host sums, as deterministic as the loss.

Kernels run on the CPU too when ``TRITON_INTERPRET=1`` is set before this module is imported.
"""
import contextlib
import os
from typing import Optional, Tuple, Union

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..utils import compat
from .contract import FUSED_DTYPES, make_asymmetric_loss
from .reference import check_first_order

__all__ = ['asymmetric_loss_fused', 'asl_forward_fused', 'scale_grad_', 'check_fused_inputs',
           'device_of', 'INTERPRETED', 'TRACED', 'OP_REGISTERED', 'register_op', 'compiled_op',
           'launcher', 'scratch', 'forward_num_warps',
           'AsymmetricLossTritonFunction']

# Elements per forward tile (BLOCK_N * BLOCK_C) and warps per program: 8 elements per thread,
# which keeps the loop within 64 registers (>= 50% occupancy on H100).
_TILE = 1024
_NUM_WARPS = 4
# Problems at least this large (elements) split their columns across programs when there are
# too few row blocks to give the GPU about _TARGET_PROGRAMS programs.
_SPLIT_MIN_ELEMENTS = 1 << 18
_TARGET_PROGRAMS = 1024
# Gradient-scaling kernels: elements per tile and the cap on programs of the grid-stride loop.
_SCALE_BLOCK = 4096
_SCALE_NUM_WARPS = 8
_SCALE_MAX_PROGRAMS = 1024
_MAX_INT32 = 2**31 - 1

_LABEL_MESSAGE = ('asymmetric_loss: target class indices must be in [0, C] (C is background) '
                  'and dense labels in [0, 1] or -1 (ignored)')


# _exp2, _log2, _rcp: the hardware's approximate exp2, log2 and reciprocal (one MUFU
# instruction each, flushing subnormals) when compiled (_APPROX, set below the kernels). Under
# the interpreter, which can not run PTX: exact numpy math, or with ASL_MMDET_MUFU_EMULATION
# (_MUFU_ERROR) the GPU's documented behaviour: subnormal inputs and outputs flushed to zero, and
# each result off by its worst-case bound (CUDA C++ Programming Guide, intrinsic functions, and
# the PTX ISA's ex2 / lg2 / rcp .approx.ftz.f32): ex2 2 ulp (relative 2^-22), lg2 absolute
# 2^-22 for x in [0.5, 2] and 2 ulp elsewhere, rcp 1 ulp (2^-23); the error's sign all +
# ('up'), all - ('down') or a hash of the argument's bits per element ('hash').
_LN2 = tl.constexpr(0.6931471805599453)
_LOG2E = tl.constexpr(1.4426950408889634)
MUFU_EMULATION_ENV = 'ASL_MMDET_MUFU_EMULATION'
MUFU_MODES = {'': 0, 'exact': 0, 'up': 1, 'down': 2, 'hash': 3}
_TINY = tl.constexpr(1.1754943508222875e-38)  # 2^-126, the smallest normal float32
_EX2_REL = tl.constexpr(2.0**-22)
_LG2_ABS = tl.constexpr(2.0**-22)
_LG2_REL = tl.constexpr(2.0**-22)
_RCP_REL = tl.constexpr(2.0**-23)


def _mufu_error_mode() -> int:
    mode = os.environ.get(MUFU_EMULATION_ENV, '')
    if mode not in MUFU_MODES:
        raise ValueError(f'{MUFU_EMULATION_ENV} must be one of {sorted(MUFU_MODES)} or unset, '
                         f'got {mode!r}')
    return MUFU_MODES[mode]


@triton.jit
def _mufu(x, ASM: tl.constexpr):
    """One approximate MUFU instruction, ``ASM``, on float32 ``x`` (compiled code only)."""
    return tl.inline_asm_elementwise(ASM, '=r,r', [x], dtype=tl.float32, is_pure=True, pack=1)


@triton.jit
def _ftz(x):
    """Subnormals flushed to zero (emulation only)."""
    return tl.where(tl.abs(x) < _TINY, 0.0, x)


@triton.jit
def _error_sign(x):
    """+1 or -1: the sign of an emulated error (emulation only)."""
    if _MUFU_ERROR == 1:
        sign = tl.full(x.shape, 1.0, tl.float32)
    elif _MUFU_ERROR == 2:
        sign = tl.full(x.shape, -1.0, tl.float32)
    else:
        bits = x.to(tl.int32, bitcast=True) * 747796405 + 289
        sign = tl.where(((bits ^ (bits >> 13)) & 1) == 0, 1.0, -1.0)
    return sign


@triton.jit
def _exp2(x):
    if _APPROX:
        return _mufu(x, 'ex2.approx.ftz.f32 $0, $1;')
    if _MUFU_ERROR != 0:
        return _ftz(tl.exp2(_ftz(x)) * (1.0 + _error_sign(x) * _EX2_REL))
    return tl.exp2(x)


@triton.jit
def _log2(x):
    if _APPROX:
        return _mufu(x, 'lg2.approx.ftz.f32 $0, $1;')
    if _MUFU_ERROR != 0:
        x = _ftz(x)
        y = tl.log2(x)
        sign = _error_sign(x)
        return tl.where((x >= 0.5) & (x <= 2.0), y + sign * _LG2_ABS,
                        y * (1.0 + sign * _LG2_REL))
    return tl.log2(x)


@triton.jit
def _rcp(x):
    if _APPROX:
        return _mufu(x, 'rcp.approx.ftz.f32 $0, $1;')
    if _MUFU_ERROR != 0:
        return _ftz((1.0 / _ftz(x)) * (1.0 + _error_sign(x) * _RCP_REL))
    return 1.0 / x


@triton.jit
def _ipow(x, POW: tl.constexpr):
    """``x ** POW`` for POW in 1..4 by products."""
    if POW == 1:
        y = x
    elif POW == 2:
        y = x * x
    elif POW == 3:
        y = x * x * x
    else:
        y = x * x
        y = y * y
    return y


@triton.jit
def _sigmoid_base(z):
    """``e = exp(-|z|)`` in [0, 1], ``d = 1 + e`` and ``d p``, ``d q`` (``p = sigmoid(z)``,
    ``q = 1 - p``): one of them is 1, the other e, so ``p`` and ``q`` keep full relative
    precision. A NaN z gives NaN e and d."""
    e = _exp2(tl.abs(z) * -_LOG2E)
    nonneg = z >= 0
    dp = tl.where(nonneg, 1.0, e)
    dq = tl.where(nonneg, e, 1.0)
    return e, 1.0 + e, dp, dq


@triton.jit
def _log1p_exp(e, d, inv_d):
    """``log(1 + e)`` for e in [0, 1] from ``d = fl(1 + e)``, corrected by d's rounding."""
    return _log2(d) * _LN2 - ((d - 1.0) - e) * inv_d


@triton.jit
def _negative_terms(z, e, d, dp, dq, clip, gamma, POW: tl.constexpr, CLIP: tl.constexpr,
                    DETACH: tl.constexpr):
    """``-L-`` and ``d(-L-)/dz`` (Eq. 8), with ``p`` and ``1 / d`` for the caller.

    With a margin the loss is returned in units of ``-ln 2`` (``p_m^g log2(1 - p_m)``; the
    caller folds the factor into its per-row scale). With ``r = 1 - p_m = q + m`` where
    ``p > m``, one reciprocal ``x = 1 / (d^2 r)`` gives ``1 / d = x d r`` and
    ``p q / r = e x``, so the gradient ``p_m^(g-1) (p q / r) (p_m - g r ln r)`` needs no
    division; integer ``g >= 2`` zeroes it below the margin by itself, the other gammas select
    exact zeros there. Conditions are written so that a NaN logit takes the computing branch:
    NaN in, NaN out.
    """
    if CLIP:
        s = clip * d + dq  # d r
        x = _rcp(d * s)
        inv_d = x * s
        p = dp * inv_d
        p_m = tl.maximum(p - clip, 0.0)
        r = s * inv_d
        below = p <= clip  # False for NaN
        if POW <= 1:
            r = tl.where(below, 1.0, r)
        log2_r = _log2(r)
        pq_r = e * x
        if POW == 0:
            loss = tl.where(below, 0.0, log2_r)
            grad = tl.where(below, 0.0, pq_r)
        elif POW > 0:
            if POW > 1:
                w1 = _ipow(p_m, POW - 1)
                w = w1 * p_m
            else:
                w1 = 1.0
                w = p_m
            loss = w * log2_r
            if DETACH:
                grad = w * pq_r
            else:
                grad = w1 * pq_r * (p_m - (r * log2_r) * (gamma * _LN2))
                if POW == 1:  # exact zeros below the margin, however log2(1) rounds
                    grad = tl.where(below, 0.0, grad)
        else:
            log2_pm = _log2(tl.maximum(p_m, 1e-30))
            w = _exp2(log2_pm * gamma)
            loss = w * log2_r
            if DETACH:
                grad = w * pq_r
            else:
                w1 = _exp2(log2_pm * (gamma - 1.0))
                grad = w1 * pq_r * (p_m - (r * log2_r) * (gamma * _LN2))
            loss = tl.where(below, 0.0, loss)
            grad = tl.where(below, 0.0, grad)
    else:
        inv_d = _rcp(d)
        p = dp * inv_d
        q = dq * inv_d
        softplus = tl.maximum(z, 0.0) + _log1p_exp(e, d, inv_d)  # -log(q)
        if POW == 0:
            loss = softplus
            grad = p
        else:
            if POW > 0:
                w = _ipow(p, POW)
            else:  # p^g in log space: log(p) = -(max(-z, 0) + log1p(e))
                w = _exp2((softplus - z) * (-gamma * _LOG2E))
            loss = w * softplus
            if DETACH:
                grad = w * p
            else:
                grad = w * (p + gamma * q * softplus)
    return loss, grad, p, inv_d


@triton.jit
def _positive_terms(z, e, d, inv_d, dp, dq, gamma, POW: tl.constexpr, DETACH: tl.constexpr):
    """``-L+ = -(1 - p)^g log(p)`` and ``d(-L+)/dz = -(1 - p)^g (1 - p - g p log(p))``."""
    q = dq * inv_d
    softplus = tl.maximum(-z, 0.0) + _log1p_exp(e, d, inv_d)  # -log(p)
    if POW == 0:
        loss = softplus
        grad = -q
    else:
        if POW > 0:
            w = _ipow(q, POW)
        else:  # q^g in log space: log(q) = -(max(z, 0) + log1p(e))
            w = _exp2((softplus + z) * (-gamma * _LOG2E))
        loss = w * softplus
        if DETACH:
            grad = -w * q
        else:
            grad = -w * (q + gamma * (dp * inv_d) * softplus)
    return loss, grad


@triton.jit
def _max_keep_nan(a, b):
    """``max(a, b)``, NaN if either is (``tl.max`` and ``tl.maximum`` drop NaN by default)."""
    return tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)


@triton.jit
def _asl_forward_kernel(
        pred_ptr, target_ptr, weight_ptr, class_weight_ptr, out_ptr, grad_ptr, ok_ptr, sums_ptr,
        num_rows, num_cols, cols_per_program,
        stride_pred_n, stride_pred_c, stride_target_n, stride_target_c,
        stride_weight_n, stride_weight_c,
        gamma_pos, gamma_neg, clip, alpha_pos, alpha_neg, scale, grad_scale,
        POW_POS: tl.constexpr, POW_NEG: tl.constexpr, CLIP: tl.constexpr,
        ALPHA: tl.constexpr, DETACH: tl.constexpr, INDEX_TARGET: tl.constexpr,
        WEIGHT: tl.constexpr, CLASS_WEIGHT: tl.constexpr, REDUCE: tl.constexpr,
        NEED_GRAD: tl.constexpr, PROB_SUMS: tl.constexpr, EVEN_C: tl.constexpr,
        BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    """One program: BLOCK_N rows from pid_n * BLOCK_N, cols_per_program columns from
    pid_c * cols_per_program, walked BLOCK_C at a time.

    WEIGHT: 0 none, 1 one weight per row (stride_weight_n), 2 one per element.
    CLASS_WEIGHT: multiply the element weights by the contiguous (C,) class_weight_ptr.
    REDUCE: write scale * (sum of the program's weighted losses) to out_ptr[program], else the
    weighted, scaled element-wise loss to the contiguous (N, C) out_ptr.
    NEED_GRAD: write grad_scale * (the weighted gradient) to the contiguous (N, C) grad_ptr.
    PROB_SUMS: write the program's [sum(w y p), sum(w y), sum(w (1 - y) (1 - p)),
    sum(w (1 - y))] (y: 1 at the labelled element for class indices; dense labels of -1 left
    out) to sums_ptr[4 * program:].
    EVEN_C: every tile of the program lies within its columns (no column mask).

    Everything constant along a row (alpha, the row's weight, the scales, the labelled
    element's terms) is applied per row, outside the loop: a reduced loss accumulates the
    unscaled element terms and multiplies each row's sum once. Rows past the end are read as
    logits 0 (finite terms), never stored, and left out of the sums after the loop.
    """
    pid_n = tl.program_id(0)
    pid_c = tl.program_id(1)
    rows = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < num_rows
    rows = rows.to(tl.int64)
    col_lo = pid_c * cols_per_program
    col_hi = tl.minimum(col_lo + cols_per_program, num_cols)
    pred_rows = pred_ptr + rows * stride_pred_n
    out_rows = rows * num_cols

    if WEIGHT == 1:
        row_weight = tl.load(weight_ptr + rows * stride_weight_n, mask=row_ok,
                             other=0.0).to(tl.float32)
    else:  # a constant, folded away (WEIGHT == 2 multiplies each element)
        row_weight = tl.full([BLOCK_N], 1.0, tl.float32)
    neg_scale = row_weight
    grad_neg_scale = grad_scale * row_weight
    if ALPHA:
        neg_scale = alpha_neg * neg_scale
        grad_neg_scale = alpha_neg * grad_neg_scale
    if CLIP:
        neg_scale = neg_scale * -_LN2  # the margin's loss comes in units of -ln 2

    if INDEX_TARGET:
        label = tl.load(target_ptr + rows * stride_target_n, mask=row_ok, other=0).to(tl.int64)
        bad = row_ok & ((label < 0) | (label > num_cols))
        num_bad = tl.sum(bad.to(tl.int32))
        label = label.to(tl.int32)
        labelled = row_ok & (label >= col_lo) & (label < col_hi)
        z_pos = tl.load(pred_rows + label * stride_pred_c, mask=labelled,
                        other=0.0).to(tl.float32)
        e_pos, d_pos, dp_pos, dq_pos = _sigmoid_base(z_pos)
        inv_d_pos = _rcp(d_pos)
        loss_pos, grad_pos = _positive_terms(z_pos, e_pos, d_pos, inv_d_pos, dp_pos, dq_pos,
                                             gamma_pos, POW_POS, DETACH)
        if WEIGHT == 2:
            pos_weight = tl.load(weight_ptr + rows * stride_weight_n + label * stride_weight_c,
                                 mask=labelled, other=0.0).to(tl.float32)
        else:
            pos_weight = row_weight
        if CLASS_WEIGHT:
            pos_weight = pos_weight * tl.load(class_weight_ptr + label, mask=labelled, other=0.0)
        pos_weight = tl.where(labelled, pos_weight, 0.0)
        pos_scale = pos_weight
        if ALPHA:
            pos_scale = alpha_pos * pos_weight
        loss_pos = loss_pos * pos_scale  # weighted, unscaled
        grad_pos = grad_pos * (pos_scale * grad_scale)
        if not REDUCE:
            loss_pos = loss_pos * scale
            neg_scale = neg_scale * scale
    else:
        y_range = tl.zeros([BLOCK_N], dtype=tl.float32)  # max |2 y - 1| of each row
        neg_factor = 1.0
        if ALPHA:
            neg_factor = alpha_neg
        if CLIP:
            neg_factor = neg_factor * -_LN2  # the margin's loss comes in units of -ln 2
        elem_scale = row_weight * scale  # of the loss, when not reduced
        elem_grad_scale = row_weight * grad_scale
    if REDUCE:
        acc = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.float32)
    if PROB_SUMS:
        pos_prob_sum = tl.zeros([BLOCK_N], dtype=tl.float32)
        pos_weight_sum = tl.zeros([BLOCK_N], dtype=tl.float32)
        neg_prob_sum = tl.zeros([BLOCK_N], dtype=tl.float32)
        neg_weight_sum = tl.zeros([BLOCK_N], dtype=tl.float32)

    for col_start in range(col_lo, col_hi, BLOCK_C):
        cols = col_start + tl.arange(0, BLOCK_C)
        if EVEN_C:
            mask = tl.broadcast_to(row_ok[:, None], (BLOCK_N, BLOCK_C))
        else:
            mask = row_ok[:, None] & (cols < col_hi)[None, :]
        z = tl.load(pred_rows[:, None] + cols[None, :] * stride_pred_c, mask=mask,
                    other=0.0).to(tl.float32)
        e, d, dp, dq = _sigmoid_base(z)
        loss, grad, p, inv_d = _negative_terms(z, e, d, dp, dq, clip, gamma_neg, POW_NEG, CLIP,
                                               DETACH)
        if WEIGHT == 2:
            w = tl.load(weight_ptr + rows[:, None] * stride_weight_n
                        + cols[None, :] * stride_weight_c, mask=mask, other=0.0).to(tl.float32)
        if CLASS_WEIGHT:  # (BLOCK_C,) per tile, broadcast over the rows
            if EVEN_C:
                class_w = tl.load(class_weight_ptr + cols)
            else:
                class_w = tl.load(class_weight_ptr + cols, mask=cols < col_hi, other=0.0)
            if WEIGHT == 2:
                w = w * class_w[None, :]
            else:
                w = tl.broadcast_to(class_w[None, :], (BLOCK_N, BLOCK_C))
        if INDEX_TARGET:
            positive = cols[None, :] == label[:, None]
            if WEIGHT == 2 or CLASS_WEIGHT:
                loss = loss * w
                grad = grad * w
            if REDUCE:
                if EVEN_C:
                    acc += tl.where(positive, 0.0, loss)
                else:
                    acc += tl.where(positive | (cols >= col_hi)[None, :], 0.0, loss)
            else:
                loss = tl.where(positive, loss_pos[:, None], loss * neg_scale[:, None])
            grad = tl.where(positive, grad_pos[:, None], grad * grad_neg_scale[:, None])
        else:
            y = tl.load(target_ptr + rows[:, None] * stride_target_n
                        + cols[None, :] * stride_target_c, mask=mask, other=0.0).to(tl.float32)
            ignored = y == -1.0
            y_range = _max_keep_nan(
                y_range, tl.reduce(tl.where(ignored, 0.0, tl.abs(2.0 * y - 1.0)), 1,
                                   _max_keep_nan))
            loss_y, grad_y = _positive_terms(z, e, d, inv_d, dp, dq, gamma_pos, POW_POS, DETACH)
            loss = loss * neg_factor
            if ALPHA:
                loss_y = loss_y * alpha_pos
                grad = grad * alpha_neg
                grad_y = grad_y * alpha_pos
            loss = loss + y * (loss_y - loss)
            grad = grad + y * (grad_y - grad)
            if WEIGHT == 2 or CLASS_WEIGHT:
                loss = loss * w
                grad = grad * w
            if REDUCE:
                if EVEN_C:
                    acc += tl.where(ignored, 0.0, loss)
                else:
                    acc += tl.where(ignored | (cols >= col_hi)[None, :], 0.0, loss)
            else:
                loss = tl.where(ignored, 0.0, loss * elem_scale[:, None])
            grad = tl.where(ignored, 0.0, grad * elem_grad_scale[:, None])
        if PROB_SUMS:
            if WEIGHT == 2:
                w_all = w  # 0 where masked
            elif CLASS_WEIGHT:  # the row's weight comes after the loop
                w_all = tl.where(mask, w, 0.0)
            else:
                w_all = tl.where(mask, 1.0, 0.0)
            if INDEX_TARGET:
                w_neg = tl.where(positive, 0.0, w_all)
            else:
                w_all = tl.where(ignored, 0.0, w_all)
                w_pos = w_all * y
                w_neg = w_all - w_pos
                pos_prob_sum += tl.sum(w_pos * p, axis=1)
                pos_weight_sum += tl.sum(w_pos, axis=1)
            neg_prob_sum += tl.sum(w_neg * (dq * inv_d), axis=1)
            neg_weight_sum += tl.sum(w_neg, axis=1)
        out_offsets = out_rows[:, None] + cols[None, :]
        if not REDUCE:
            tl.store(out_ptr + out_offsets, loss.to(out_ptr.dtype.element_ty), mask=mask)
        if NEED_GRAD:
            tl.store(grad_ptr + out_offsets, grad.to(grad_ptr.dtype.element_ty), mask=mask)

    program = pid_n * tl.num_programs(1) + pid_c
    if REDUCE:
        if INDEX_TARGET:
            row_total = tl.sum(acc, axis=1) * neg_scale + loss_pos
        else:
            row_total = tl.sum(acc, axis=1) * row_weight
        tl.store(out_ptr + program, tl.sum(tl.where(row_ok, row_total, 0.0)) * scale)
    if PROB_SUMS:
        if WEIGHT != 2:
            pos_prob_sum = pos_prob_sum * row_weight
            pos_weight_sum = pos_weight_sum * row_weight
            neg_prob_sum = neg_prob_sum * row_weight
            neg_weight_sum = neg_weight_sum * row_weight
        if INDEX_TARGET:  # the labelled element of each row, weighted already
            pos_prob_sum = pos_weight * (dp_pos * inv_d_pos)
            pos_weight_sum = pos_weight
        tl.store(sums_ptr + 4 * program, tl.sum(pos_prob_sum))
        tl.store(sums_ptr + 4 * program + 1, tl.sum(pos_weight_sum))
        tl.store(sums_ptr + 4 * program + 2, tl.sum(neg_prob_sum))
        tl.store(sums_ptr + 4 * program + 3, tl.sum(neg_weight_sum))
    if not INDEX_TARGET:
        # written so that a NaN label (whose |2 y - 1| compares false) counts as bad; an
        # ignored label (-1) counted as 0 in the loop
        num_bad = 1 - (tl.reduce(y_range, 0, _max_keep_nan) <= 1.0).to(tl.int32)
    if num_bad > 0:
        tl.store(ok_ptr, 0)


@triton.jit
def _scale_by_scalar_kernel(grad_ptr, factor_ptr, scale, numel, BLOCK: tl.constexpr):
    """``grad *= factor[0] * scale`` in place over a contiguous buffer; nothing when that is 1."""
    factor = tl.load(factor_ptr).to(tl.float32) * scale
    if factor != 1.0:
        step = tl.num_programs(0) * BLOCK
        # a 64-bit counter: with an int32 one, numel within a step of 2**31 would wrap start
        # negative, past the mask, and write out of bounds
        for start in range(tl.program_id(0).to(tl.int64) * BLOCK, numel, step):
            offsets = start + tl.arange(0, BLOCK)
            mask = offsets < numel
            grad = tl.load(grad_ptr + offsets, mask=mask).to(tl.float32)
            tl.store(grad_ptr + offsets, (grad * factor).to(grad_ptr.dtype.element_ty),
                     mask=mask)


@triton.jit
def _mul_elementwise_kernel(grad_ptr, factor_ptr, scale, num_rows, num_cols, stride_factor_n,
                            stride_factor_c, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    """``grad *= factor * scale`` in place, grad contiguous (N, C), factor (N, C) of any
    strides."""
    rows = (tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask = (rows < num_rows)[:, None] & (cols < num_cols)[None, :]
    factor = tl.load(factor_ptr + rows[:, None] * stride_factor_n
                     + cols[None, :] * stride_factor_c, mask=mask).to(tl.float32) * scale
    offsets = rows[:, None] * num_cols + cols[None, :]
    grad = tl.load(grad_ptr + offsets, mask=mask).to(tl.float32)
    tl.store(grad_ptr + offsets, (grad * factor).to(grad_ptr.dtype.element_ty), mask=mask)


def _pow_mode(gamma: float) -> int:
    """The kernels' POW code: 0 for gamma 0, gamma itself for 1..4, -1 for any other."""
    return int(gamma) if gamma in (0.0, 1.0, 2.0, 3.0, 4.0) else -1


def _block_cols(num_cols: int) -> int:
    """Tile width: the power of two in [16, 128] that pads C least (80 -> 16, no padding),
    C rounded up to a power of two below 16, 256 for wide rows."""
    if num_cols <= 16:
        return triton.next_power_of_2(num_cols)
    if num_cols <= 128:
        return min((16, 32, 64, 128), key=lambda b: (triton.cdiv(num_cols, b) * b, -b))
    return 256


def forward_num_warps(num_cols: int, block_c: int) -> int:
    """Warps per program of the forward kernel: 4 (8 elements per thread), or 8 (4 per
    thread) where the tile's columns are masked (C not a multiple of BLOCK_C < 256), whose
    per-column masks and addresses took 140-216 registers per thread at 4 warps (sm_75 to
    sm_120, the compile matrix of tests/test_ops/test_kernel_compile.py) and 62-124 at 8."""
    return _NUM_WARPS if num_cols % block_c == 0 or block_c >= 256 else 2 * _NUM_WARPS


def _forward_config(num_rows: int, num_cols: int) -> Tuple[int, int, int, Tuple[int, int]]:
    """``(BLOCK_N, BLOCK_C, cols_per_program, grid)`` of the forward kernel."""
    block_c = _block_cols(num_cols)
    block_n = min(_TILE // block_c, triton.next_power_of_2(num_rows))
    grid_n = triton.cdiv(num_rows, block_n)
    chunks = triton.cdiv(num_cols, block_c)
    splits = 1
    if num_rows * num_cols >= _SPLIT_MIN_ELEMENTS:
        splits = min(chunks, max(1, _TARGET_PROGRAMS // grid_n))
    chunks_per_program = triton.cdiv(chunks, splits)
    grid_c = triton.cdiv(chunks, chunks_per_program)
    return block_n, block_c, block_c * chunks_per_program, (grid_n, grid_c)


def scratch(like: Tensor) -> Tensor:
    """A one-element tensor of ``like``'s dtype and device, for an unused pointer argument."""
    return torch.empty(1, dtype=like.dtype, device=like.device)


def launcher(kernel, traced: bool):
    """``kernel``, through :func:`torch.library.wrap_triton` if ``traced``."""
    return compat.wrap_triton(kernel) if traced else kernel


def _strides(tensor: Tensor, num_cols: int) -> Tuple[Tensor, int, int]:
    """``(tensor, row stride, column stride)``, copied if its column offsets overflow int32."""
    if tensor.dim() == 2 and tensor.stride(1) * max(num_cols - 1, 0) > _MAX_INT32:
        tensor = tensor.contiguous()
    stride_c = tensor.stride(1) if tensor.dim() == 2 else 0
    return tensor, tensor.stride(0), stride_c


def check_fused_inputs(loss: str, pred: Tensor, **tensors: Optional[Tensor]) -> None:
    """Raise naming the problem unless the fused kernels can take ``pred`` (fp32 / fp16 / bf16,
    on CUDA or under ``TRITON_INTERPRET=1``) and ``tensors`` (None, or on pred's device).

    Args:
        loss (str): the loss, as the message names it.
        pred (Tensor): the logits.
        **tensors: the other inputs by argument name.
    """
    if pred.dtype not in FUSED_DTYPES:
        raise TypeError(f'the fused {loss} takes pred of dtype float32, float16 or bfloat16, '
                        f'got {pred.dtype} (use ASL_MMDET_IMPL=ref)')
    if pred.device.type != 'cuda' and not INTERPRETED:
        raise RuntimeError(f'the fused {loss} needs CUDA tensors, got pred on {pred.device}; '
                           f'set TRITON_INTERPRET=1 before importing asl_mmdet.ops.fused to '
                           f'run its kernels on the CPU')
    for name, tensor in tensors.items():
        if tensor is not None and tensor.device != pred.device:
            raise ValueError(f'{name} must be on the device of pred ({pred.device}), got '
                             f'{tensor.device}')


def asl_forward_fused(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                      gamma_neg: float, clip: float, alpha: Optional[float],
                      detach_focal_weight: bool, reduce: bool, scale: float, grad_scale: float,
                      need_grad: bool, prob_sums: bool = False,
                      class_weight: Optional[Tensor] = None,
                      traced: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Launch the forward kernel: the loss, its gradient, the label-check flag and, on
    request, the probability analysis' sums.

    Args:
        pred (Tensor): logits of shape (N, C), float32, float16 or bfloat16, any strides.
        target (Tensor): class indices of shape (N,) in [0, C] (C is background), or labels of
            shape (N, C) in [0, 1], -1 for an ignored element.
        weight (Tensor, optional): weights of shape (N, 1) or (N, C), any strides (a
            stride of 0 is read as such, never copied).
        gamma_pos, gamma_neg, clip, alpha, detach_focal_weight: see
            :func:`asl_mmdet.ops.asymmetric_loss` (clip 0 means no margin).
        reduce (bool): return ``scale * sum(loss)`` if True, else ``scale * loss``.
        scale (float): ``loss_weight`` over the reduction's denominator.
        grad_scale (float): factor of the stored gradient: ``scale``, or 1 to leave it to
            backward.
        need_grad (bool): also compute ``grad_scale / scale * d(output) / d(pred)``.
        prob_sums (bool): also accumulate the four sums of
            :func:`asl_mmdet.ops.probability_analysis.probability_sums` in the same pass.
        class_weight (Tensor, optional): a float32 weight per class, shape (C,), multiplied on
            top of ``weight``; read by the kernel as a vector, once per tile of columns.
        traced (bool): launch through :func:`torch.library.wrap_triton` (inside the custom op,
            so that ``torch.compile`` sees the kernel).

    Returns:
        tuple[Tensor, Tensor, Tensor, Tensor]: the loss (a float32 scalar, or (N, C) in
        pred's dtype);
        the gradient, contiguous (N, C) in pred's dtype (empty if not ``need_grad``); a
        one-element int32 tensor that is 0 if a label was out of range; the float32 sums of
        shape (4,) (empty if not ``prob_sums``).
    """
    num_rows, num_cols = pred.shape
    device = pred.device
    grad = (torch.empty((num_rows, num_cols), dtype=pred.dtype, device=device)
            if need_grad else pred.new_empty(0))
    ok = torch.ones(1, dtype=torch.int32, device=device)
    if num_rows * num_cols == 0:
        loss = (pred.new_zeros((), dtype=torch.float32) if reduce
                else torch.empty((num_rows, num_cols), dtype=pred.dtype, device=device))
        return loss, grad, ok, torch.zeros(4 if prob_sums else 0, dtype=torch.float32,
                                           device=device)

    block_n, block_c, cols_per_program, grid = _forward_config(num_rows, num_cols)
    pred, stride_pred_n, stride_pred_c = _strides(pred, num_cols)
    target, stride_target_n, stride_target_c = _strides(target, num_cols)
    if weight is None:
        weight_kind, weight, stride_weight_n, stride_weight_c = 0, scratch(pred), 0, 0
    else:
        weight_kind = 1 if weight.shape[1] == 1 else 2
        weight, stride_weight_n, stride_weight_c = _strides(weight, num_cols)
    if class_weight is not None:
        class_weight = class_weight.to(torch.float32).contiguous()
    if reduce:
        out = torch.empty(grid[0] * grid[1], dtype=torch.float32, device=device)
    else:
        out = torch.empty((num_rows, num_cols), dtype=pred.dtype, device=device)
    if prob_sums:  # per-program partials, summed below: deterministic
        partials = torch.empty(grid[0] * grid[1] * 4, dtype=torch.float32, device=device)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)

    kernel = launcher(_asl_forward_kernel, traced)
    # a pointer the variant never reads or writes gets a scratch tensor of its own: no two
    # arguments alias, so a compiler that must assume every argument written (Inductor, for a
    # kernel with inline asm) can not reorder one aliased write over another
    kernel[grid](
        pred, target, weight, scratch(pred) if class_weight is None else class_weight, out,
        grad if need_grad else scratch(out), ok,
        partials if prob_sums else scratch(out),
        num_rows, num_cols, cols_per_program,
        stride_pred_n, stride_pred_c, stride_target_n, stride_target_c,
        stride_weight_n, stride_weight_c,
        float(gamma_pos), float(gamma_neg), float(clip), float(a_pos), float(a_neg),
        float(scale), float(grad_scale),
        POW_POS=_pow_mode(gamma_pos), POW_NEG=_pow_mode(gamma_neg), CLIP=clip > 0,
        ALPHA=alpha is not None, DETACH=bool(detach_focal_weight),
        INDEX_TARGET=not target.dtype.is_floating_point, WEIGHT=weight_kind,
        CLASS_WEIGHT=class_weight is not None, REDUCE=bool(reduce), NEED_GRAD=bool(need_grad),
        PROB_SUMS=bool(prob_sums),
        EVEN_C=num_cols % block_c == 0, BLOCK_N=block_n, BLOCK_C=block_c,
        num_warps=forward_num_warps(num_cols, block_c))
    sums = (partials.view(-1, 4).sum(0) if prob_sums
            else torch.empty(0, dtype=torch.float32, device=device))
    if not reduce:
        return out, grad, ok, sums
    # float32, like the reference: the caller casts after any division by a tensor avg_factor
    loss = out.sum() if out.numel() > 1 else out.view(())
    return loss, grad, ok, sums


def scale_grad_(grad: Tensor, grad_output: Tensor, scale: float = 1.0,
                traced: bool = False) -> None:
    """``grad *= grad_output * scale`` in place, with no traffic when that is a scalar 1.

    Args:
        grad (Tensor): the stored gradient, contiguous (N, C).
        grad_output (Tensor): a one-element tensor, or (N, C) of any strides; read on the device.
        scale (float): a constant factor.
        traced (bool): launch through :func:`torch.library.wrap_triton`.
    """
    numel = grad.numel()
    if numel == 0:
        return
    if grad_output.numel() == 1 or all(s == 0 for s in grad_output.stride()):
        # a scalar, or one expanded to (N, C) (the backward of ``loss.sum()``)
        grid = (min(triton.cdiv(numel, _SCALE_BLOCK), _SCALE_MAX_PROGRAMS), )
        kernel = launcher(_scale_by_scalar_kernel, traced)
        kernel[grid](grad, grad_output, float(scale), numel, BLOCK=_SCALE_BLOCK,
                     num_warps=_SCALE_NUM_WARPS)
        return
    num_rows, num_cols = grad.shape
    # its column offsets in int32 (a transposed grad_output of N * C > 2**31 would overflow)
    grad_output, stride_factor_n, stride_factor_c = _strides(grad_output, num_cols)
    block_c = _block_cols(num_cols)
    block_n = _TILE // block_c
    grid = (triton.cdiv(num_rows, block_n), triton.cdiv(num_cols, block_c))
    kernel = launcher(_mul_elementwise_kernel, traced)
    kernel[grid](grad, grad_output, float(scale), num_rows, num_cols, stride_factor_n,
                 stride_factor_c, BLOCK_N=block_n, BLOCK_C=block_c,
                 num_warps=_NUM_WARPS)


def _asl_forward_op(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                    gamma_neg: float, clip: float, alpha: Optional[float],
                    detach_focal_weight: bool, reduce: bool, scale: float, grad_scale: float,
                    need_grad: bool, prob_sums: bool,
                    class_weight: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    return asl_forward_fused(pred, target, weight, gamma_pos, gamma_neg, clip, alpha,
                             detach_focal_weight, reduce, scale, grad_scale, need_grad,
                             prob_sums, class_weight, traced=TRACED)


def _asl_forward_fake(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                      gamma_neg: float, clip: float, alpha: Optional[float],
                      detach_focal_weight: bool, reduce: bool, scale: float,
                      grad_scale: float, need_grad: bool, prob_sums: bool,
                      class_weight: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    loss = (pred.new_empty((), dtype=torch.float32) if reduce else pred.new_empty(pred.shape))
    grad = pred.new_empty(pred.shape if need_grad else (0, ))
    sums = pred.new_empty(4 if prob_sums else 0, dtype=torch.float32)
    return loss, grad, pred.new_empty(1, dtype=torch.int32), sums


def _asl_scale_grad_op(grad: Tensor, grad_output: Tensor, scale: float) -> None:
    scale_grad_(grad, grad_output, scale, traced=TRACED)


INTERPRETED = not isinstance(_asl_forward_kernel, triton.runtime.jit.JITFunction)
_APPROX = tl.constexpr(not INTERPRETED)  # read by the kernels when they compile or run
# the interpreter's emulation of the MUFU math (0: exact); read when the kernels run, so a
# test may set it between calls
_MUFU_ERROR = tl.constexpr(_mufu_error_mode() if INTERPRETED else 0)
# torch.compile traces into triton ops and sees the kernels (torch >= 2.6); wrap_triton can not
# trace interpreted kernels, which are opaque custom ops with fake kernels (torch >= 2.4).
# With neither, compiled code runs the reference (fused_support) and nothing is registered.
TRACED = compat.HAS_TRITON_OP and not INTERPRETED
OP_REGISTERED = TRACED or compat.HAS_CUSTOM_OP


def register_op(name: str, fn, mutates_args, fake) -> None:
    """Register ``fn`` as ``asl_mmdet::name`` for ``torch.compile``: a triton op (``fn``
    launches through :func:`torch.library.wrap_triton` when ``traced=TRACED``), an opaque
    custom op with the ``fake`` kernel under the interpreter, nothing without either."""
    if TRACED:
        compat.triton_op(f'asl_mmdet::{name}', fn, mutates_args=mutates_args)
    elif compat.HAS_CUSTOM_OP:
        compat.custom_op(f'asl_mmdet::{name}', fn, mutates_args=mutates_args, fake=fake)


register_op('asl_forward', _asl_forward_op, (), _asl_forward_fake)
register_op('asl_scale_grad_', _asl_scale_grad_op, {'grad'}, lambda *args: None)
_NO_OP_MESSAGE = (f'the fused Asymmetric Loss under torch.compile needs torch >= 2.6 '
                  f'(torch.library.triton_op), this is torch {torch.__version__}: call '
                  f'asymmetric_loss, which runs the reference under compile there')


def compiled_op(name: str):
    """The registered op ``asl_mmdet::name``, for code that Dynamo traces."""
    if not OP_REGISTERED:
        raise RuntimeError(_NO_OP_MESSAGE)
    return getattr(torch.ops.asl_mmdet, name)


def device_of(tensor: Tensor):
    """Triton launches on the current CUDA device: make it the tensor's."""
    if tensor.is_cuda and tensor.device.index != torch.cuda.current_device():
        return torch.cuda.device(tensor.device)
    return contextlib.nullcontext()


class AsymmetricLossTritonFunction(torch.autograd.Function):
    r"""Reduced (or element-wise) Asymmetric Loss from the fused kernel; forward also computes
    the gradient, backward scales it in place by grad_output.

    For :math:`p = \sigma(z)` and :math:`p_m = \max(p - m, 0)` the element-wise loss is Eq. 7,
    :math:`-y (1 - p)^{\gamma_+} \log p - (1 - y) p_m^{\gamma_-} \log(1 - p_m)`, and the
    gradient of its negative part is Eq. 8,
    :math:`p_m^{\gamma_-} [\frac{1}{1 - p_m} - \frac{\gamma_- \log(1 - p_m)}{p_m}] p (1 - p)`
    (zero where :math:`p \le m`).

    Same arguments and outputs as :class:`asl_mmdet.ops.AsymmetricLossRefFunction` (with
    ``prob_sums``, the sums come from the kernel's pass). Backward may run once
    per forward: it scales the saved gradient in place (like Liger-Kernel's cross-entropy), so
    a second backward through the same graph (``retain_graph=True``) raises.
    """

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, weight: Optional[Tensor],
                gamma_pos: float, gamma_neg: float, clip: float, alpha: Optional[float],
                detach_focal_weight: bool, reduce: bool, scale: float,
                prob_sums: bool = False,
                class_weight: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """Same arguments as :meth:`asl_mmdet.ops.AsymmetricLossRefFunction.forward`; with
        ``prob_sums`` the float32 (4,) sums are accumulated by the kernel in the same pass;
        ``class_weight`` (C,) goes to the kernel as it is (no (N, C) copy)."""
        need_grad = ctx.needs_input_grad[0]
        # float16 gradients leave the reduction's scale (1 / N for a mean) to backward
        grad_scale, backward_scale = ((1.0, scale) if pred.dtype == torch.float16 else
                                      (scale, 1.0))
        args = (pred, target, weight, gamma_pos, gamma_neg, clip, alpha, detach_focal_weight,
                reduce, scale, grad_scale, need_grad, prob_sums, class_weight)
        if compat.is_compiling():
            loss, grad, ok, sums = compiled_op('asl_forward')(*args)
        else:
            check_fused_inputs('Asymmetric Loss', pred, target=target, weight=weight,
                               class_weight=class_weight)
            with device_of(pred):
                loss, grad, ok, sums = asl_forward_fused(*args)
        torch._assert_async(ok, _LABEL_MESSAGE)
        if need_grad:
            ctx.save_for_backward(grad)
            ctx.backward_scale = backward_scale
            ctx.backward_done = False
        if not prob_sums:
            return loss
        ctx.mark_non_differentiable(sums)
        return loss, sums

    @staticmethod
    def backward(ctx, grad_output: Tensor, *unused):
        check_first_order()
        (grad, ) = ctx.saved_tensors
        if compat.is_compiling():
            compiled_op('asl_scale_grad_')(grad, grad_output, ctx.backward_scale)
        else:
            if ctx.backward_done:
                raise RuntimeError('the fused Asymmetric Loss scales its saved gradient in '
                                   'place, so it can back-propagate once per forward; use '
                                   'ASL_MMDET_IMPL=ref to back-propagate twice')
            ctx.backward_done = True
            with device_of(grad):
                scale_grad_(grad, grad_output, ctx.backward_scale)
        return (grad, ) + (None, ) * (len(ctx.needs_input_grad) - 1)  # all but pred


asymmetric_loss_fused = make_asymmetric_loss(
    AsymmetricLossTritonFunction, checks_labels=True, name='asymmetric_loss_fused',
    doc=""":func:`asl_mmdet.ops.asymmetric_loss` through the fused kernel, whatever the device
    (on the CPU it needs ``TRITON_INTERPRET=1``). Same arguments and result.""")
