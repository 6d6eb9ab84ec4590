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
(no integer division per element) and non-contiguous inputs are read through their strides.
Class-index targets are read once per row: the positive term is computed for the one labelled
logit of each row and selected into the tile, the negative term everywhere else. Math is in
float32 and in log space (``log(p)`` and ``log(1 - p)`` come from one shared softplus), so
logits of any finite size give finite losses and gradients in float32, float16 and bfloat16.

Labels are range-checked inside the kernel: a program that sees one out of range clears a
device flag that the host asserts on with ``torch._assert_async`` (no host synchronisation).
The reduced loss is the sum of a fixed-size buffer of per-program partial sums, so it is
bit-identical from run to run (no float atomics).

Behind the ``PROB_SUMS`` flag (off by default: the kernel compiled without it is unchanged) the
same pass also accumulates the four weighted sums of the paper's probability analysis
(Sec. 2.6, :mod:`asl_mmdet.ops.probability_gap`) from the ``p`` and ``1 - p`` it computes
anyway, into per-program partials that the host sums, as deterministic as the loss.

Kernels run on the CPU too when ``TRITON_INTERPRET=1`` is set before this module is imported.
"""
import contextlib
from typing import Optional, Tuple, Union

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.library import triton_op, wrap_triton

from .asymmetric_loss import FUSED_DTYPES, apply_asymmetric_loss
from .asymmetric_loss_ref import check_first_order

__all__ = ['asymmetric_loss_fused', 'asl_forward_fused', 'scale_grad_',
           'AsymmetricLossTritonFunction']

# Elements per forward tile (BLOCK_N * BLOCK_C) and warps per program: 16 float32 per thread.
_TILE = 2048
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
                  'and dense labels in [0, 1]')


@triton.jit
def _pow(x, log_x, gamma, POW: tl.constexpr):
    """``x ** gamma`` for ``x >= 0``: products for gamma in {1, 2, 3, 4} (POW = gamma),
    ``exp(gamma * log(x))`` otherwise (POW = -1)."""
    if POW == 1:
        y = x
    elif POW == 2:
        y = x * x
    elif POW == 3:
        y = x * x * x
    elif POW == 4:
        y = x * x
        y = y * y
    else:
        y = tl.exp(gamma * log_x)
    return y


@triton.jit
def _sigmoid_parts(z):
    """``p = sigmoid(z)``, ``q = 1 - p`` (both without cancellation) and
    ``softplus(-|z|) = log(1 + exp(-|z|))``, so ``log(p) = -(max(-z, 0) + softplus)`` and
    ``log(1 - p) = -(max(z, 0) + softplus)``."""
    e = tl.exp(-tl.abs(z))
    d = 1.0 + e
    inv_d = 1.0 / d
    nonneg = z >= 0
    p = tl.where(nonneg, inv_d, e * inv_d)
    q = tl.where(nonneg, e * inv_d, inv_d)
    # log1p(e): log(d) corrected by the rounding error of d = fl(1 + e), exact for tiny e
    softplus = tl.log(d) - ((d - 1.0) - e) * inv_d
    return p, q, softplus


@triton.jit
def _positive_terms(z, p, q, softplus, gamma, POW: tl.constexpr, DETACH: tl.constexpr):
    """``-L+ = -(1 - p)^g log(p)`` and ``d(-L+)/dz = (1 - p)^g (g p log(p) - (1 - p))``."""
    log_p = -(tl.maximum(-z, 0.0) + softplus)
    if POW == 0:
        loss = -log_p
        grad = -q
    else:
        log_q = -(tl.maximum(z, 0.0) + softplus)
        w = _pow(q, log_q, gamma, POW)
        loss = -w * log_p
        if DETACH:
            grad = -w * q
        else:
            grad = w * (gamma * p * log_p - q)
    return loss, grad


@triton.jit
def _negative_terms(z, p, q, softplus, gamma, clip, POW: tl.constexpr, CLIP: tl.constexpr,
                    DETACH: tl.constexpr):
    """``-L- = -p_m^g log(1 - p_m)`` with ``p_m = max(p - m, 0)`` and its derivative
    ``p_m^g [1 / (1 - p_m) - g log(1 - p_m) / p_m] p (1 - p)``, zero where p <= m."""
    if CLIP:
        p_m = tl.maximum(p - clip, 0.0)
        r = 1.0 - p_m  # >= m > 0
        log_r = tl.log(r)
        above = p_m > 0
        if POW == 0:
            loss = -log_r
            grad = p * q / r
        else:
            w = _pow(p_m, tl.log(tl.maximum(p_m, 1e-30)), gamma, POW)
            loss = -w * log_r
            if DETACH:
                grad = w * p * q / r
            else:
                p_m_safe = tl.where(above, p_m, 1.0)
                grad = w * p * q * (p_m_safe - gamma * r * log_r) / (r * p_m_safe)
        grad = tl.where(above, grad, 0.0)
    else:
        log_q = -(tl.maximum(z, 0.0) + softplus)
        if POW == 0:
            loss = -log_q
            grad = p
        else:
            log_p = -(tl.maximum(-z, 0.0) + softplus)
            w = _pow(p, log_p, gamma, POW)
            loss = -w * log_q
            if DETACH:
                grad = w * p
            else:
                grad = w * (p - gamma * q * log_q)
    return loss, grad


@triton.jit
def _lerp(start, end, weight):
    """``torch.lerp``'s formula: exact at weight 0 and 1."""
    diff = end - start
    return tl.where(weight < 0.5, start + weight * diff, end - diff * (1.0 - weight))


@triton.jit
def _asl_forward_kernel(
        pred_ptr, target_ptr, weight_ptr, out_ptr, grad_ptr, ok_ptr, sums_ptr,
        num_rows, num_cols, cols_per_program,
        stride_pred_n, stride_pred_c, stride_target_n, stride_target_c,
        stride_weight_n, stride_weight_c,
        gamma_pos, gamma_neg, clip, alpha_pos, alpha_neg, scale, grad_scale,
        POW_POS: tl.constexpr, POW_NEG: tl.constexpr, CLIP: tl.constexpr,
        ALPHA: tl.constexpr, DETACH: tl.constexpr, INDEX_TARGET: tl.constexpr,
        WEIGHT: tl.constexpr, REDUCE: tl.constexpr, NEED_GRAD: tl.constexpr,
        PROB_SUMS: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_C: tl.constexpr):
    """One program: BLOCK_N rows from pid_n * BLOCK_N, cols_per_program columns from
    pid_c * cols_per_program, walked BLOCK_C at a time.

    WEIGHT: 0 none, 1 one weight per row (stride_weight_n), 2 one per element.
    REDUCE: write scale * (sum of the program's weighted losses) to out_ptr[program], else the
    weighted, scaled element-wise loss to the contiguous (N, C) out_ptr.
    NEED_GRAD: write grad_scale * (the weighted gradient) to the contiguous (N, C) grad_ptr.
    PROB_SUMS: write the program's [sum(w y p), sum(w y), sum(w (1 - y) (1 - p)),
    sum(w (1 - y))] (y: 1 at the labelled element for class indices) to sums_ptr[4 * program:].
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
    if INDEX_TARGET:
        label = tl.load(target_ptr + rows * stride_target_n, mask=row_ok, other=0).to(tl.int64)
        bad = row_ok & ((label < 0) | (label > num_cols))
        num_bad = tl.sum(bad.to(tl.int32))
        label = label.to(tl.int32)
        labelled = row_ok & (label >= col_lo) & (label < col_hi)
        z_pos = tl.load(pred_rows + label * stride_pred_c, mask=labelled,
                        other=0.0).to(tl.float32)
        p_pos, q_pos, softplus_pos = _sigmoid_parts(z_pos)
        loss_pos, grad_pos = _positive_terms(z_pos, p_pos, q_pos, softplus_pos, gamma_pos,
                                             POW_POS, DETACH)
        if ALPHA:
            loss_pos = loss_pos * alpha_pos
            grad_pos = grad_pos * alpha_pos
    else:
        bad_tile = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.int32)
    if REDUCE:
        acc = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.float32)
    if PROB_SUMS:
        pos_prob_acc = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.float32)
        pos_weight_acc = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.float32)
        neg_prob_acc = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.float32)
        neg_weight_acc = tl.zeros([BLOCK_N, BLOCK_C], dtype=tl.float32)

    for col_start in range(col_lo, col_hi, BLOCK_C):
        cols = col_start + tl.arange(0, BLOCK_C)
        mask = row_ok[:, None] & (cols < col_hi)[None, :]
        z = tl.load(pred_rows[:, None] + cols[None, :] * stride_pred_c, mask=mask,
                    other=0.0).to(tl.float32)
        p, q, softplus = _sigmoid_parts(z)
        loss, grad = _negative_terms(z, p, q, softplus, gamma_neg, clip, POW_NEG, CLIP,
                                     DETACH)
        if ALPHA:
            loss = loss * alpha_neg
            grad = grad * alpha_neg
        if INDEX_TARGET:
            positive = cols[None, :] == label[:, None]
            loss = tl.where(positive, loss_pos[:, None], loss)
            grad = tl.where(positive, grad_pos[:, None], grad)
        else:
            y = tl.load(target_ptr + rows[:, None] * stride_target_n
                        + cols[None, :] * stride_target_c, mask=mask, other=0.0).to(tl.float32)
            bad_tile = bad_tile | (mask & ((y < 0.0) | (y > 1.0))).to(tl.int32)
            loss_y, grad_y = _positive_terms(z, p, q, softplus, gamma_pos, POW_POS, DETACH)
            if ALPHA:
                loss_y = loss_y * alpha_pos
                grad_y = grad_y * alpha_pos
            loss = _lerp(loss, loss_y, y)
            grad = _lerp(grad, grad_y, y)
        if WEIGHT == 1:
            loss = loss * row_weight[:, None]
            grad = grad * row_weight[:, None]
        elif WEIGHT == 2:
            weight = tl.load(weight_ptr + rows[:, None] * stride_weight_n
                             + cols[None, :] * stride_weight_c, mask=mask,
                             other=0.0).to(tl.float32)
            loss = loss * weight
            grad = grad * weight
        if PROB_SUMS:
            if WEIGHT == 0:
                w = tl.where(mask, 1.0, 0.0)
            elif WEIGHT == 1:
                w = tl.where(mask, row_weight[:, None], 0.0)
            else:
                w = weight  # 0 where masked
            if INDEX_TARGET:
                w_pos = tl.where(positive, w, 0.0)
            else:
                w_pos = w * y
            w_neg = w - w_pos
            pos_prob_acc += w_pos * p
            pos_weight_acc += w_pos
            neg_prob_acc += w_neg * q
            neg_weight_acc += w_neg
        out_offsets = out_rows[:, None] + cols[None, :]
        if REDUCE:
            acc += tl.where(mask, loss, 0.0)
        else:
            tl.store(out_ptr + out_offsets, (loss * scale).to(out_ptr.dtype.element_ty),
                     mask=mask)
        if NEED_GRAD:
            tl.store(grad_ptr + out_offsets, (grad * grad_scale).to(grad_ptr.dtype.element_ty),
                     mask=mask)

    program = pid_n * tl.num_programs(1) + pid_c
    if REDUCE:
        tl.store(out_ptr + program, tl.sum(acc) * scale)
    if PROB_SUMS:
        tl.store(sums_ptr + 4 * program, tl.sum(pos_prob_acc))
        tl.store(sums_ptr + 4 * program + 1, tl.sum(pos_weight_acc))
        tl.store(sums_ptr + 4 * program + 2, tl.sum(neg_prob_acc))
        tl.store(sums_ptr + 4 * program + 3, tl.sum(neg_weight_acc))
    if not INDEX_TARGET:
        num_bad = tl.sum(bad_tile)
    if num_bad > 0:
        tl.store(ok_ptr, 0)


@triton.jit
def _scale_by_scalar_kernel(grad_ptr, factor_ptr, scale, numel, BLOCK: tl.constexpr):
    """``grad *= factor[0] * scale`` in place over a contiguous buffer; nothing when that is 1."""
    factor = tl.load(factor_ptr).to(tl.float32) * scale
    if factor != 1.0:
        step = tl.num_programs(0) * BLOCK
        for start in range(tl.program_id(0) * BLOCK, numel, step):
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


def _strides(tensor: Tensor, num_cols: int) -> Tuple[Tensor, int, int]:
    """``(tensor, row stride, column stride)``, copied if its column offsets overflow int32."""
    if tensor.dim() == 2 and tensor.stride(1) * max(num_cols - 1, 0) > _MAX_INT32:
        tensor = tensor.contiguous()
    stride_c = tensor.stride(1) if tensor.dim() == 2 else 0
    return tensor, tensor.stride(0), stride_c


def _check_devices(pred: Tensor, target: Tensor, weight: Optional[Tensor]) -> None:
    if pred.dtype not in FUSED_DTYPES:
        raise TypeError(f'the fused Asymmetric Loss takes pred of dtype float32, float16 or '
                        f'bfloat16, got {pred.dtype} (use ASL_MMDET_IMPL=ref)')
    if pred.device.type != 'cuda' and not _INTERPRETED:
        raise RuntimeError(f'the fused Asymmetric Loss needs CUDA tensors, got pred on '
                           f'{pred.device}; set TRITON_INTERPRET=1 before importing '
                           f'{__name__} to run its kernels on the CPU')
    for name, tensor in (('target', target), ('weight', weight)):
        if tensor is not None and tensor.device != pred.device:
            raise ValueError(f'{name} must be on the device of pred ({pred.device}), got '
                             f'{tensor.device}')


def asl_forward_fused(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                      gamma_neg: float, clip: float, alpha: Optional[float],
                      detach_focal_weight: bool, reduce: bool, scale: float, grad_scale: float,
                      need_grad: bool, prob_sums: bool = False,
                      traced: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Launch the forward kernel: the loss, its gradient, the label-check flag and, on
    request, the probability analysis' sums.

    Args:
        pred (Tensor): logits of shape (N, C), float32, float16 or bfloat16, any strides.
        target (Tensor): class indices of shape (N,) in [0, C] (C is background), or labels of
            shape (N, C) in [0, 1].
        weight (Tensor, optional): weights of shape (N, 1) or (N, C).
        gamma_pos, gamma_neg, clip, alpha, detach_focal_weight: see
            :func:`asl_mmdet.ops.asymmetric_loss.asymmetric_loss` (clip 0 means no margin).
        reduce (bool): return ``scale * sum(loss)`` if True, else ``scale * loss``.
        scale (float): ``loss_weight`` over the reduction's denominator.
        grad_scale (float): factor of the stored gradient: ``scale``, or 1 to leave it to
            backward.
        need_grad (bool): also compute ``grad_scale / scale * d(output) / d(pred)``.
        prob_sums (bool): also accumulate the four sums of
            :func:`asl_mmdet.ops.probability_gap.probability_sums` in the same pass.
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
        weight_kind, weight, stride_weight_n, stride_weight_c = 0, pred, 0, 0
    else:
        weight_kind = 1 if weight.shape[1] == 1 else 2
        weight, stride_weight_n, stride_weight_c = _strides(weight, num_cols)
    if reduce:
        out = torch.empty(grid[0] * grid[1], dtype=torch.float32, device=device)
    else:
        out = torch.empty((num_rows, num_cols), dtype=pred.dtype, device=device)
    if prob_sums:  # per-program partials, summed below: deterministic
        partials = torch.empty(grid[0] * grid[1] * 4, dtype=torch.float32, device=device)
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)

    kernel = wrap_triton(_asl_forward_kernel) if traced else _asl_forward_kernel
    kernel[grid](
        pred, target, weight, out, grad if need_grad else out, ok,
        partials if prob_sums else out,
        num_rows, num_cols, cols_per_program,
        stride_pred_n, stride_pred_c, stride_target_n, stride_target_c,
        stride_weight_n, stride_weight_c,
        float(gamma_pos), float(gamma_neg), float(clip), float(a_pos), float(a_neg),
        float(scale), float(grad_scale),
        POW_POS=_pow_mode(gamma_pos), POW_NEG=_pow_mode(gamma_neg), CLIP=clip > 0,
        ALPHA=alpha is not None, DETACH=bool(detach_focal_weight),
        INDEX_TARGET=not target.dtype.is_floating_point, WEIGHT=weight_kind,
        REDUCE=bool(reduce), NEED_GRAD=bool(need_grad), PROB_SUMS=bool(prob_sums),
        BLOCK_N=block_n, BLOCK_C=block_c, num_warps=_NUM_WARPS)
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
        kernel = wrap_triton(_scale_by_scalar_kernel) if traced else _scale_by_scalar_kernel
        kernel[grid](grad, grad_output, float(scale), numel, BLOCK=_SCALE_BLOCK,
                     num_warps=_SCALE_NUM_WARPS)
        return
    num_rows, num_cols = grad.shape
    block_c = _block_cols(num_cols)
    block_n = _TILE // block_c
    grid = (triton.cdiv(num_rows, block_n), triton.cdiv(num_cols, block_c))
    kernel = wrap_triton(_mul_elementwise_kernel) if traced else _mul_elementwise_kernel
    kernel[grid](grad, grad_output, float(scale), num_rows, num_cols, grad_output.stride(0),
                 grad_output.stride(1), BLOCK_N=block_n, BLOCK_C=block_c,
                 num_warps=_NUM_WARPS)


def _asl_forward_op(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                    gamma_neg: float, clip: float, alpha: Optional[float],
                    detach_focal_weight: bool, reduce: bool, scale: float, grad_scale: float,
                    need_grad: bool, prob_sums: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    return asl_forward_fused(pred, target, weight, gamma_pos, gamma_neg, clip, alpha,
                             detach_focal_weight, reduce, scale, grad_scale, need_grad,
                             prob_sums, traced=not _INTERPRETED)


def _asl_forward_fake(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                      gamma_neg: float, clip: float, alpha: Optional[float],
                      detach_focal_weight: bool, reduce: bool, scale: float,
                      grad_scale: float, need_grad: bool,
                      prob_sums: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    loss = (pred.new_empty((), dtype=torch.float32) if reduce else pred.new_empty(pred.shape))
    grad = pred.new_empty(pred.shape if need_grad else (0, ))
    sums = pred.new_empty(4 if prob_sums else 0, dtype=torch.float32)
    return loss, grad, pred.new_empty(1, dtype=torch.int32), sums


def _asl_scale_grad_op(grad: Tensor, grad_output: Tensor, scale: float) -> None:
    scale_grad_(grad, grad_output, scale, traced=not _INTERPRETED)


_INTERPRETED = not isinstance(_asl_forward_kernel, triton.runtime.jit.JITFunction)
if _INTERPRETED:
    # wrap_triton can not trace interpreted kernels: opaque custom ops with fake kernels
    torch.library.custom_op('asl_mmdet::asl_forward', _asl_forward_op,
                            mutates_args=()).register_fake(_asl_forward_fake)
    torch.library.custom_op('asl_mmdet::asl_scale_grad_', _asl_scale_grad_op,
                            mutates_args={'grad'}).register_fake(lambda *args: None)
else:
    # torch.compile traces into these and sees the kernels
    triton_op('asl_mmdet::asl_forward', _asl_forward_op, mutates_args=())
    triton_op('asl_mmdet::asl_scale_grad_', _asl_scale_grad_op, mutates_args={'grad'})


def _device_of(tensor: Tensor):
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
                prob_sums: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """See :meth:`asl_mmdet.ops.AsymmetricLossRefFunction.forward`.

        Args:
            pred (Tensor): logits of shape (N, C).
            target (Tensor): class indices of shape (N,) in [0, C] (C is background) or
                labels of shape (N, C).
            weight (Tensor, optional): weights of shape (N, 1) or (N, C).
            reduce (bool): return ``scale * sum(loss)`` if True, else ``scale * loss``.
            scale (float): ``loss_weight`` over the reduction's denominator.
            prob_sums (bool): also return the float32 (4,) sums of the probability analysis
                (not differentiable), accumulated by the kernel in the same pass.
        """
        need_grad = ctx.needs_input_grad[0]
        # float16 gradients leave the reduction's scale (1 / N for a mean) to backward
        grad_scale, backward_scale = ((1.0, scale) if pred.dtype == torch.float16 else
                                      (scale, 1.0))
        args = (pred, target, weight, gamma_pos, gamma_neg, clip, alpha, detach_focal_weight,
                reduce, scale, grad_scale, need_grad, prob_sums)
        if torch.compiler.is_compiling():
            loss, grad, ok, sums = torch.ops.asl_mmdet.asl_forward(*args)
        else:
            _check_devices(pred, target, weight)
            with _device_of(pred):
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
        if torch.compiler.is_compiling():
            torch.ops.asl_mmdet.asl_scale_grad_(grad, grad_output, ctx.backward_scale)
        else:
            if ctx.backward_done:
                raise RuntimeError('the fused Asymmetric Loss scales its saved gradient in '
                                   'place, so it can back-propagate once per forward; use '
                                   'ASL_MMDET_IMPL=ref to back-propagate twice')
            ctx.backward_done = True
            with _device_of(grad):
                scale_grad_(grad, grad_output, ctx.backward_scale)
        return (grad, ) + (None, ) * (len(ctx.needs_input_grad) - 1)  # 9 or 10 but pred


def asymmetric_loss_fused(pred: Tensor,
                          target: Tensor,
                          weight: Optional[Tensor] = None,
                          gamma_pos: float = 0.0,
                          gamma_neg: float = 4.0,
                          clip: Optional[float] = 0.05,
                          alpha: Optional[float] = None,
                          detach_focal_weight: bool = False,
                          reduction: str = 'mean',
                          avg_factor: Optional[Union[float, Tensor]] = None,
                          loss_weight: float = 1.0,
                          eps: float = torch.finfo(torch.float32).eps,
                          return_prob_sums: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """:func:`asl_mmdet.ops.asymmetric_loss` through the fused kernel, whatever the device
    (on the CPU it needs ``TRITON_INTERPRET=1``). Same arguments and result."""
    return apply_asymmetric_loss(AsymmetricLossTritonFunction, True, pred, target, weight,
                                 gamma_pos, gamma_neg, clip, alpha, detach_focal_weight,
                                 reduction, avg_factor, loss_weight, eps, return_prob_sums)
