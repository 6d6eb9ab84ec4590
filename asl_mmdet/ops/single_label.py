r"""Single-label (softmax) Asymmetric Loss: the argument checks and the plain-PyTorch
reference, the CPU path and the oracle of the fused kernel
(:mod:`asl_mmdet.ops.fused_single_label`).

This is the softmax form of ASL that the official implementation (``ASLSingleLabel`` in
Alibaba-MIIL/ASL ``src/loss_functions/losses.py``) and timm (``AsymmetricLossSingleLabel``)
ship for single-label classification. For logits :math:`z` of one sample,
:math:`\log p = \operatorname{log\_softmax}(z)`, labels :math:`t` (the one-hot vector of a
class index, or soft labels from mixup / cutmix) and :math:`\varepsilon` the label smoothing:

.. math::
    b_c = t_c (1 - p_c) + (1 - t_c) p_c, \quad
    \gamma_c = \gamma_+ t_c + \gamma_- (1 - t_c), \quad
    w_c = b_c^{\gamma_c}, \quad
    s_c = (1 - \varepsilon) t_c + \varepsilon / C,

.. math::
    \mathcal{L} = -\sum_c s_c \, w_c \log p_c,

so for a class index :math:`y` the labelled class is weighted by :math:`(1 - p_y)^{\gamma_+}`
and every other class by :math:`p_c^{\gamma_-}` (the paper's Eq. 4 focusing, with softmax
probabilities). The focusing weight is not detached (neither the official code nor timm
detaches it). With soft labels the formula above is the official one applied to a non-one-hot
``targets`` as written: the base interpolates between :math:`1 - p_c` and :math:`p_c` and the
exponent between :math:`\gamma_+` and :math:`\gamma_-`; label smoothing is mmpretrain's
``LabelSmoothLoss`` (``mode='original'``) on the soft labels. With
:math:`\gamma_+ = \gamma_- = 0` the loss is ``F.cross_entropy(label_smoothing=eps)``.

Numerics: the math runs in float32 (float64 for float64 logits) from ``log_softmax``, so
float16 / bfloat16 logits of any finite size stay finite; :math:`1 - p_c` is
``-expm1(log p_c)`` (no cancellation near :math:`p_c = 1`) and the weight is
:math:`\exp(\gamma_c \log b_c)` with :math:`b_c` clamped at the dtype's smallest normal
number, so a base that underflows to 0 gives a weight of (almost) 0 and a gradient of 0, not
``inf * 0`` (autograd through ``b ** gamma`` with 0 < gamma < 1 at b = 0).
"""
from typing import Callable, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils import compat
from .contract import (DEFAULT_EPS, check_avg_factor, check_number, check_pred_and_target,
                       check_reduction, describe, reduction_scale)
from .reference import compute_dtype

__all__ = ['asymmetric_loss_single_label_ref', 'make_single_label_loss',
           'single_label_loss_rows', 'check_single_label_args']


def check_single_label_args(pred: Tensor, target: Tensor, weight: Optional[Tensor],
                            gamma_pos: float, gamma_neg: float, label_smoothing: float,
                            reduction: str, avg_factor: Optional[Union[float, Tensor]],
                            loss_weight: float, eps: float) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first bad argument and its value.

    ``pred``: floating (N, C), C >= 1; ``target``: integer class indices (N,) in [0, C), or
    floating soft labels (N, C) in [0, 1]; ``weight``: None or per-sample (N,); the
    hyper-parameters and the reduction as in :mod:`asl_mmdet.ops.contract`.
    Class indices are range-checked on the host for CPU tensors and by a device assert
    otherwise (no host synchronisation).
    """
    check_number('gamma_pos', gamma_pos, 0)
    check_number('gamma_neg', gamma_neg, 0)
    check_number('label_smoothing', label_smoothing, 0, 1, high_inclusive=False)
    check_reduction(reduction, loss_weight, eps)
    check_pred_and_target(pred, target, soft=True, min_classes=1)
    num, num_classes = pred.shape
    if weight is not None:
        if not isinstance(weight, Tensor) or not weight.dtype.is_floating_point:
            raise TypeError(f'weight must be a floating-point Tensor or None, got '
                            f'{describe(weight)}')
        if weight.shape != (num, ):
            raise ValueError(f'weight must be per-sample, of shape ({num},), got '
                             f'{tuple(weight.shape)}')
    check_avg_factor(avg_factor, reduction)
    _check_target_values(target, num_classes)


def _check_target_values(target: Tensor, num_classes: int) -> None:
    if target.numel() == 0:
        return
    soft = target.dtype.is_floating_point
    name, high = ('soft labels', 1) if soft else ('class indices', num_classes - 1)
    if target.device.type != 'cpu' or compat.is_compiling():
        good = (target >= 0) & (target <= high)
        torch._assert_async(good.all(), f'target {name} must be in [0, {high}]')
        return
    low_value, high_value = target.min().item(), target.max().item()
    if not (low_value >= 0 and high_value <= high):  # NaN fails both comparisons
        bad_value = high_value if low_value >= 0 else low_value
        interval = '[0, 1]' if soft else f'[0, C) with C = {num_classes}'
        raise ValueError(f'target {name} must be in {interval}, got {bad_value}')


def single_label_loss_rows(logits: Tensor, target: Tensor, gamma_pos: float, gamma_neg: float,
                           label_smoothing: float) -> Tensor:
    """The loss of each sample (see the module), differentiable by autograd.

    Args:
        logits (Tensor): logits ``z`` of shape (N, C), float32 or float64.
        target (Tensor): class indices of shape (N,) in [0, C), or soft labels of shape
            (N, C) in [0, 1] in the dtype of ``logits``.
        gamma_pos (float): ``gamma_+`` >= 0, focusing of the labelled class.
        gamma_neg (float): ``gamma_-`` >= 0, focusing of the other classes.
        label_smoothing (float): ``eps`` in [0, 1).

    Returns:
        Tensor: the loss of shape (N,), in the dtype of ``logits``.
    """
    num_classes = logits.shape[1]
    log_p = F.log_softmax(logits, dim=1)
    if target.dtype.is_floating_point:
        t = target
    else:
        t = F.one_hot(target.long(), num_classes).to(logits.dtype)
    smoothed = t * (1 - label_smoothing) + label_smoothing / num_classes
    if gamma_pos == 0 and gamma_neg == 0:
        return -(smoothed * log_p).sum(1)
    p = log_p.exp()
    q = torch.expm1(log_p).neg()  # 1 - p without cancellation near p = 1
    base = t * q + (1 - t) * p  # exactly q at t = 1 and p at t = 0
    exponent = gamma_neg + (gamma_pos - gamma_neg) * t
    tiny = torch.finfo(logits.dtype).tiny
    focus = torch.exp(exponent * base.clamp(min=tiny).log())
    return -(smoothed * focus * log_p).sum(1)


def make_single_label_loss(compute: Callable[..., Tensor], name: str, doc: str) -> Callable:
    """:func:`asl_mmdet.ops.asymmetric_loss_single_label`, with its signature, computed by
    ``compute`` (the single-label twin of :func:`asl_mmdet.ops.contract.make_asymmetric_loss`).

    Args:
        compute: ``compute(pred, target, weight, gamma_pos, gamma_neg, label_smoothing,
            reduce, scale)`` with the arguments checked: ``scale * sum(loss)`` (in the dtype
            it summed in) if ``reduce``, else ``scale * loss`` of shape (N,).
        name (str): the function's name, in the module of ``compute``.
        doc (str): its docstring.
    """

    def loss(pred: Tensor,
             target: Tensor,
             weight: Optional[Tensor] = None,
             gamma_pos: float = 0.0,
             gamma_neg: float = 4.0,
             label_smoothing: float = 0.1,
             reduction: str = 'mean',
             avg_factor: Optional[Union[float, Tensor]] = None,
             loss_weight: float = 1.0,
             eps: float = DEFAULT_EPS) -> Tensor:
        check_single_label_args(pred, target, weight, gamma_pos, gamma_neg, label_smoothing,
                                reduction, avg_factor, loss_weight, eps)
        scale, divide_by = reduction_scale(reduction, avg_factor, loss_weight, eps,
                                           pred.shape[0])
        out = compute(pred, target, weight, float(gamma_pos), float(gamma_neg),
                      float(label_smoothing), reduction != 'none', float(scale))
        if divide_by is not None:
            out = out / (divide_by.to(out.dtype) + eps)
        return out.to(pred.dtype)

    loss.__name__ = loss.__qualname__ = name
    loss.__module__ = compute.__module__
    loss.__doc__ = doc
    return loss


def _reference(pred: Tensor, target: Tensor, weight: Optional[Tensor], gamma_pos: float,
               gamma_neg: float, label_smoothing: float, reduce: bool, scale: float) -> Tensor:
    """The reference's ``compute`` for :func:`make_single_label_loss`, in float32 (float64)."""
    dtype = compute_dtype(pred.dtype)
    if target.dtype.is_floating_point:
        target = target.to(dtype)
    loss = single_label_loss_rows(pred.to(dtype), target, gamma_pos, gamma_neg, label_smoothing)
    if weight is not None:
        loss = loss * weight.to(dtype)
    if reduce:
        loss = loss.sum()  # in float32 (float64): a float16 sum could overflow
    return loss * scale if scale != 1 else loss


asymmetric_loss_single_label_ref = make_single_label_loss(
    _reference, name='asymmetric_loss_single_label_ref',
    doc=""":func:`asl_mmdet.ops.asymmetric_loss_single_label` through the reference, whatever the
    device and ``ASL_MMDET_IMPL`` (the fused kernel's oracle). Same arguments and result.""")
