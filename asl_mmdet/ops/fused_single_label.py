r"""Fused Triton kernel of the single-label (softmax) Asymmetric Loss, for class-index targets.

One program per row, Liger-Kernel's cross-entropy shape: the first pass over the row keeps an
online softmax (running max :math:`m`, :math:`S = \sum_{c \ne y} e^{z_c - m}`) together with
the two sums the focusing weight needs, :math:`A = \sum_{c \ne y} e^{\gamma_-(z_c - m)}` and
:math:`B = \sum_{c \ne y} e^{\gamma_-(z_c - m)} (z_c - m)`, each rescaled when the max grows
(:math:`B \leftarrow e^{\gamma_- \delta} (B + \delta A)` for :math:`\delta = m_{old} - m_{new}`).
From them, with :math:`\log p_c = z_c - m - \log S_{all}`:
:math:`\sum_{c \ne y} p_c^{\gamma_-} = A / S_{all}^{\gamma_-}` and
:math:`\sum_{c \ne y} p_c^{\gamma_-} \log p_c = (B - A \log S_{all}) / S_{all}^{\gamma_-}`,
so the loss of the row is known after one pass. The second pass writes the gradient (the
forward pass computes it; backward only scales it by ``grad_output``).

The gradient (the loss of :mod:`asl_mmdet.ops.single_label` with one-hot :math:`t`,
:math:`s_c` the smoothed labels, :math:`w_c` the focusing weights): for
:math:`\mathcal{L} = -\sum_c s_c w_c(p_c) \log p_c` and :math:`p = \operatorname{softmax}(z)`,
:math:`\partial \log p_c / \partial z_j = \delta_{cj} - p_j` and
:math:`\partial p_c / \partial z_j = p_c (\delta_{cj} - p_j)` give

.. math::
    \frac{\partial \mathcal{L}}{\partial z_j} = p_j R - r_j, \quad
    r_c = s_c \bigl(w_c + p_c \log p_c \, w_c'(p_c)\bigr), \quad R = \sum_c r_c,

with, for the labelled class :math:`y` (:math:`q_y = 1 - p_y`),
:math:`r_y = s_y q_y^{\gamma_+} (1 - \gamma_+ p_y \log p_y / q_y)`, and for the others
(:math:`s_c = \varepsilon / C`) :math:`r_c = \frac{\varepsilon}{C} p_c^{\gamma_-}
(1 + \gamma_- \log p_c)`, so :math:`R = r_y + \frac{\varepsilon}{C}(\sum_{c \ne y}
p_c^{\gamma_-} + \gamma_- \sum_{c \ne y} p_c^{\gamma_-} \log p_c)` comes from the first pass
too. With :math:`\gamma_\pm = 0` this is cross-entropy's :math:`p_j - s_j`.
:math:`q_y = S / S_{all}` is exact (no ``1 - p``), and :math:`\log p_y` is ``-log1p(S)`` when
:math:`z_y` is the max.

The math is float32 whatever the logits' dtype; the gradient goes to a new tensor in the
logits' dtype (float32 for float16 logits, cast in backward), and the logits are left as they
are.
"""
from typing import Optional, Tuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..utils import compat
from .fused import (TRACED, check_fused_inputs, compiled_op, device_of, launcher, register_op,
                    scale_grad_, scratch)
from .reference import check_first_order
from .single_label import make_single_label_loss

__all__ = ['asymmetric_loss_single_label_fused', 'asl_single_label_forward_fused',
           'AsymmetricLossSingleLabelTritonFunction', 'INTERPRETED']

_MAX_BLOCK = 2048  # columns per trip of a row's loops


@triton.jit
def _log1p(u):
    """``log(1 + u)`` for u >= 0, without the cancellation of ``log(1 + u)`` for tiny u."""
    small = u * (1.0 - u * (0.5 - u * (1.0 / 3.0)))
    return tl.where(u < 1e-4, small, tl.log(1.0 + u))


@triton.jit
def _asl_single_label_kernel(x_ptr, stride_x, y_ptr, w_ptr, loss_ptr, grad_ptr, stride_g,
                             num_cols, gamma_pos, gamma_neg, smooth_other, smooth_target,
                             grad_scale, HAS_WEIGHT: tl.constexpr, NEED_GRAD: tl.constexpr,
                             BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * stride_x
    y = tl.load(y_ptr + row).to(tl.int32)
    z_y = tl.load(x_row + y).to(tl.float32)
    # pass 1: online max, sum-exp and the focusing sums over the classes c != y
    m = z_y
    s_other = tl.zeros((), tl.float32)
    a = tl.zeros((), tl.float32)
    b = tl.zeros((), tl.float32)
    for start in range(0, num_cols, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        in_row = cols < num_cols
        x = tl.load(x_row + cols, mask=in_row, other=float('-inf')).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, 0))
        other = in_row & (cols != y)
        d = tl.where(other, x - m_new, 0.0)
        e = tl.where(other, tl.exp(d), 0.0)
        eg = tl.where(other, tl.exp(gamma_neg * d), 0.0)
        shift = m - m_new
        rescale_g = tl.exp(gamma_neg * shift)
        b = rescale_g * (b + shift * a) + tl.sum(eg * d, 0)
        a = rescale_g * a + tl.sum(eg, 0)
        s_other = tl.exp(shift) * s_other + tl.sum(e, 0)
        m = m_new
    # the row's loss and R
    e_y = tl.exp(z_y - m)
    s_all = s_other + e_y
    log_s = tl.log(s_all)
    log_p_y = tl.where(z_y == m, -_log1p(s_other), z_y - m - log_s)
    p_y = e_y / s_all
    q_y = s_other / s_all
    inv_s_g = tl.exp(-gamma_neg * log_s)
    sum_pg = a * inv_s_g  # sum_{c != y} p_c^gamma_neg
    sum_pg_log = (b - log_s * a) * inv_s_g  # sum_{c != y} p_c^gamma_neg log p_c
    w_y = tl.where(q_y > 0, tl.exp(gamma_pos * tl.log(q_y)), tl.where(gamma_pos == 0, 1.0, 0.0))
    ratio = tl.where(q_y > 0, log_p_y / q_y, -1.0)  # log(p) / (1 - p) -> -1 as p -> 1
    r_y = smooth_target * w_y * (1.0 - gamma_pos * p_y * ratio)
    loss = -smooth_other * sum_pg_log - smooth_target * w_y * log_p_y
    weight = 1.0
    if HAS_WEIGHT:
        weight = tl.load(w_ptr + row).to(tl.float32)
    tl.store(loss_ptr + row, loss * weight)
    if NEED_GRAD:
        total_r = smooth_other * (sum_pg + gamma_neg * sum_pg_log) + r_y
        factor = grad_scale * weight
        lse = m + log_s
        g_row = grad_ptr + row * stride_g
        # pass 2: the gradient p_j R - r_j
        for start in range(0, num_cols, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            in_row = cols < num_cols
            x = tl.load(x_row + cols, mask=in_row, other=0.0).to(tl.float32)
            log_p = x - lse
            p = tl.exp(log_p)
            r = smooth_other * tl.exp(gamma_neg * log_p) * (1.0 + gamma_neg * log_p)
            r = tl.where(cols == y, r_y, r)
            grad = (p * total_r - r) * factor
            tl.store(g_row + cols, grad.to(grad_ptr.dtype.element_ty), mask=in_row)


INTERPRETED = not isinstance(_asl_single_label_kernel, triton.runtime.jit.JITFunction)


def _launch_config(num_cols: int) -> Tuple[int, int]:
    """``(BLOCK, num_warps)``: the row in one trip up to 2048 columns."""
    block = min(triton.next_power_of_2(max(num_cols, 1)), _MAX_BLOCK)
    return block, (4 if block <= 1024 else 8)


def asl_single_label_forward_fused(pred: Tensor, target: Tensor, weight: Optional[Tensor],
                                   gamma_pos: float, gamma_neg: float, label_smoothing: float,
                                   grad_scale: float, need_grad: bool,
                                   traced: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
    """Launch the kernel: the (N,) float32 per-sample loss (times ``weight``) and, if
    ``need_grad``, the (N, C) gradient of ``grad_scale * sum(loss)`` in pred's dtype (float32
    for float16 logits: see :class:`AsymmetricLossSingleLabelTritonFunction`).

    Args:
        pred (Tensor): logits of shape (N, C), float32, float16 or bfloat16.
        target (Tensor): class indices of shape (N,) in [0, C) (checked by the caller).
        weight (Tensor, optional): per-sample weights of shape (N,).
        traced (bool): launch through :func:`torch.library.wrap_triton` (inside the op that
            ``torch.compile`` sees).

    The caller checks the arguments and the device (CPU tensors launch compile-only, see
    :mod:`asl_mmdet.ops.compile_report`, or under ``TRITON_INTERPRET=1``).
    """
    num_rows, num_cols = pred.shape
    if pred.stride(1) != 1:
        pred = pred.contiguous()
    target = target.contiguous()
    loss = torch.empty(num_rows, dtype=torch.float32, device=pred.device)
    grad = None
    if need_grad:
        grad_dtype = torch.float32 if pred.dtype == torch.float16 else pred.dtype
        grad = torch.empty(pred.shape, dtype=grad_dtype, device=pred.device)
    if num_rows == 0:
        return loss, grad
    if weight is not None:
        weight = weight.contiguous()
    block, num_warps = _launch_config(num_cols)
    smooth_other = label_smoothing / num_cols
    launcher(_asl_single_label_kernel, traced)[(num_rows, )](
        pred, pred.stride(0), target, weight if weight is not None else scratch(loss), loss,
        grad if need_grad else scratch(loss), grad.stride(0) if need_grad else 0, num_cols,
        float(gamma_pos), float(gamma_neg), smooth_other, 1.0 - label_smoothing + smooth_other,
        float(grad_scale), HAS_WEIGHT=weight is not None, NEED_GRAD=need_grad, BLOCK=block,
        num_warps=num_warps)
    return loss, grad


def _forward_op(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                gamma_neg: float, label_smoothing: float, grad_scale: float,
                need_grad: bool) -> Tuple[Tensor, Tensor]:
    loss, grad = asl_single_label_forward_fused(pred, target, weight, gamma_pos, gamma_neg,
                                                label_smoothing, grad_scale, need_grad,
                                                traced=TRACED)
    return loss, grad if grad is not None else pred.new_empty(0)


def _forward_fake(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                  gamma_neg: float, label_smoothing: float, grad_scale: float,
                  need_grad: bool) -> Tuple[Tensor, Tensor]:
    grad_dtype = torch.float32 if pred.dtype == torch.float16 else pred.dtype
    return (pred.new_empty(pred.shape[0], dtype=torch.float32),
            pred.new_empty(pred.shape if need_grad else (0, ), dtype=grad_dtype))


register_op('asl_single_label_forward', _forward_op, (), _forward_fake)


class AsymmetricLossSingleLabelTritonFunction(torch.autograd.Function):
    """Reduced (or per-sample) single-label Asymmetric Loss, its gradient computed in forward.

    Inputs are already validated by :func:`asymmetric_loss_single_label_fused`.
    """

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
                gamma_neg: float, label_smoothing: float, reduce: bool,
                scale: float) -> Tensor:
        """``scale * sum(loss)`` (float32) if ``reduce``, else ``scale * loss`` (N,) in pred's
        dtype; see :func:`asl_mmdet.ops.asymmetric_loss_single_label`."""
        need_grad = ctx.needs_input_grad[0]
        # float16 logits: the gradient is kept in float32 and cast after grad_output scaled it,
        # as the reference does, so that 1 / N of 'mean' does not flush small elements to 0
        # before a GradScaler's grad_output scales them back up
        args = (pred, target, weight, gamma_pos, gamma_neg, label_smoothing, scale, need_grad)
        if compat.is_compiling():  # the op that torch.compile sees: no raw launch traced
            loss, grad = compiled_op('asl_single_label_forward')(*args)
        else:
            with device_of(pred):
                loss, grad = asl_single_label_forward_fused(*args)
        if need_grad:
            ctx.save_for_backward(grad)
        ctx.reduce, ctx.dtype, ctx.backward_done = reduce, pred.dtype, False
        if reduce:
            return loss.sum() * scale
        return (loss * scale).to(pred.dtype)

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        check_first_order()
        (grad, ) = ctx.saved_tensors
        # in place and on the device: no traffic (and no host synchronisation) when
        # grad_output is the scalar 1 of loss.backward()
        factor = grad_output if ctx.reduce else grad_output.unsqueeze(1).expand(grad.shape)
        if compat.is_compiling():
            compiled_op('asl_scale_grad_')(grad, factor, 1.0)
        else:
            if ctx.backward_done:
                raise RuntimeError('the fused single-label Asymmetric Loss scales its saved '
                                   'gradient in place, so it can back-propagate once per '
                                   'forward; use ASL_MMDET_IMPL=ref to back-propagate twice')
            ctx.backward_done = True
            with device_of(grad):
                scale_grad_(grad, factor)
        return (grad.to(ctx.dtype), ) + (None, ) * 7


def _fused(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
           gamma_neg: float, label_smoothing: float, reduce: bool, scale: float) -> Tensor:
    """The kernel's ``compute`` for :func:`~asl_mmdet.ops.single_label.make_single_label_loss`:
    class indices only, on CUDA (or under the interpreter)."""
    if target.dtype.is_floating_point:
        raise TypeError('the fused single-label Asymmetric Loss takes class indices; soft '
                        'labels run the reference (asymmetric_loss_single_label picks it)')
    check_fused_inputs('single-label Asymmetric Loss', pred, target=target, weight=weight)
    return AsymmetricLossSingleLabelTritonFunction.apply(pred, target, weight, gamma_pos,
                                                         gamma_neg, label_smoothing, reduce,
                                                         scale)


asymmetric_loss_single_label_fused = make_single_label_loss(
    _fused, name='asymmetric_loss_single_label_fused',
    doc=""":func:`asl_mmdet.ops.asymmetric_loss_single_label` through the fused kernel, for class
    indices (soft labels: use the reference). Same arguments and result.""")
