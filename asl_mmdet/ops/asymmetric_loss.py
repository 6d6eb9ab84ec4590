"""Asymmetric Loss entry point: argument checks, MMDetection's reduction rules, dispatch.

:func:`asymmetric_loss` runs the fused Triton kernel
(:mod:`asl_mmdet.ops.asymmetric_loss_triton`) for CUDA logits of dtype float32, float16 or
bfloat16 when Triton is installed, and the plain-PyTorch reference otherwise. The environment
variable ``ASL_MMDET_IMPL`` forces either: ``ref``, ``triton``, or unset / ``auto``.

With ``return_prob_sums=True`` both also return the weighted sums of the paper's probability
analysis (Sec. 2.6), computed in the same pass as the loss; see
:mod:`asl_mmdet.ops.probability_gap`.
"""
import importlib.util
import math
import numbers
import os
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from . import fused_support
from .asymmetric_loss_ref import AsymmetricLossRefFunction
from .fused_support import FUSED_DTYPES

__all__ = ['asymmetric_loss', 'apply_asymmetric_loss', 'check_asl_params', 'check_avg_factor',
           'check_bool', 'check_inputs', 'check_number', 'check_target_values', 'use_fused',
           'REDUCTIONS', 'IMPL_ENV', 'IMPLS', 'FUSED_DTYPES']

REDUCTIONS = ('none', 'mean', 'sum')
IMPL_ENV = 'ASL_MMDET_IMPL'
IMPLS = ('auto', 'ref', 'triton')
HAS_TRITON = importlib.util.find_spec('triton') is not None


def _range_text(low: float, high: float, low_inclusive: bool, high_inclusive: bool) -> str:
    lower = f'>= {low}' if low_inclusive else f'> {low}'
    upper = f'<= {high}' if high_inclusive else f'< {high}'
    if math.isinf(high):
        return 'a finite number' if math.isinf(low) else f'a finite number {lower}'
    if math.isinf(low):
        return f'a finite number {upper}'
    return f'in {"[" if low_inclusive else "("}{low}, {high}{"]" if high_inclusive else ")"}'


def check_number(name: str, value, low: float = -math.inf, high: float = math.inf,
                 high_inclusive: bool = True, low_inclusive: bool = True) -> None:
    """Raise ``TypeError`` unless ``value`` is a real number (bools are not), ``ValueError``
    unless it is finite and within the bounds; both messages name ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f'{name} must be a real number, got {value!r} '
                        f'({type(value).__name__})')
    above = value > high if high_inclusive else value >= high
    below = value < low if low_inclusive else value <= low
    if not math.isfinite(value) or below or above:
        raise ValueError(f'{name} must be {_range_text(low, high, low_inclusive, high_inclusive)}'
                         f', got {value!r}')


def check_bool(name: str, value) -> None:
    """Raise ``TypeError`` unless ``value`` is a bool (a string such as ``'False'`` is not)."""
    if not isinstance(value, bool):
        raise TypeError(f'{name} must be a bool, got {_describe(value)}')


def check_asl_params(gamma_pos: float, gamma_neg: float, clip: Optional[float],
                     alpha: Optional[float], eps: float, reduction: str,
                     loss_weight: float = 1.0, detach_focal_weight: bool = False) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first bad hyper-parameter."""
    check_number('gamma_pos', gamma_pos, 0)
    check_number('gamma_neg', gamma_neg, 0)
    if clip is not None:
        check_number('clip', clip, 0, 1, high_inclusive=False)
    if alpha is not None:
        check_number('alpha', alpha, 0, 1)
    check_number('eps', eps, 0, low_inclusive=False)
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    check_number('loss_weight', loss_weight)
    check_bool('detach_focal_weight', detach_focal_weight)


def check_avg_factor(avg_factor: Optional[Union[float, Tensor]], reduction: str) -> None:
    """``avg_factor``: None, a finite number > 0, or a one-element real tensor holding one
    (checked on the host for CPU tensors, with an asynchronous device assert otherwise)."""
    if avg_factor is None:
        return
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    if not isinstance(avg_factor, Tensor):
        check_number('avg_factor', avg_factor, 0, low_inclusive=False)
        return
    if avg_factor.numel() != 1 or avg_factor.dtype == torch.bool or avg_factor.is_complex():
        raise ValueError(f'avg_factor must be a number or a one-element real Tensor, got '
                         f'{_describe(avg_factor)}')
    if avg_factor.device.type == 'cpu' and not torch.compiler.is_compiling():
        check_number('avg_factor', avg_factor.item(), 0, low_inclusive=False)
    else:
        ok = torch.isfinite(avg_factor) & (avg_factor > 0)
        torch._assert_async(ok.reshape(()), 'avg_factor must be a finite number > 0')


def check_inputs(pred: Tensor, target: Tensor, weight: Optional[Tensor]) -> Optional[Tensor]:
    """Check shapes and dtypes; return ``weight`` viewed as (N, 1) or (N, C)."""
    if not isinstance(pred, Tensor) or not pred.dtype.is_floating_point:
        raise TypeError(f'pred must be a floating-point Tensor, got {_describe(pred)}')
    if pred.dim() != 2:
        raise ValueError(f'pred must have shape (N, C), got {tuple(pred.shape)}')
    num, num_classes = pred.shape
    if not isinstance(target, Tensor):
        raise TypeError(f'target must be a Tensor, got {_describe(target)}')
    if target.dtype.is_floating_point:
        if target.shape != pred.shape:
            raise ValueError(f'target of dtype {target.dtype} must have the shape of pred '
                             f'{tuple(pred.shape)}, got {tuple(target.shape)}')
    elif target.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        if target.shape != (num, ):
            raise ValueError(f'target of class indices ({target.dtype}) must have shape '
                             f'({num},), got {tuple(target.shape)}')
    else:
        raise TypeError(f'target must hold integer class indices or floating-point labels, '
                        f'got dtype {target.dtype}')
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(f'weight must be a Tensor or None, got {_describe(weight)}')
    if weight.shape in ((num, ), (num, 1)):
        return weight.reshape(num, 1)
    if weight.shape == (num, num_classes):
        return weight
    raise ValueError(f'weight must have shape ({num},), ({num}, 1) or ({num}, {num_classes}) '
                     f'to match pred, got {tuple(weight.shape)}')


def _describe(value) -> str:
    if isinstance(value, Tensor):
        return f'Tensor of dtype {value.dtype} and shape {tuple(value.shape)}'
    return f'{value!r} ({type(value).__name__})'


def check_target_values(target: Tensor, num_classes: int) -> None:
    """Class indices in [0, C], dense labels in [0, 1] (NaN is out of range); no host sync on
    accelerators."""
    if target.numel() == 0:
        return
    high = 1 if target.dtype.is_floating_point else num_classes
    name = 'labels' if target.dtype.is_floating_point else 'class indices'
    if target.device.type != 'cpu':
        good = (target >= 0) & (target <= high)
        torch._assert_async(good.all(), f'target {name} must be in [0, {high}]')
        return
    low_value, high_value = target.min().item(), target.max().item()
    if not (low_value >= 0 and high_value <= high):  # NaN fails both comparisons
        bad_value = high_value if low_value >= 0 else low_value
        raise ValueError(f'target {name} must be in [0, {high}] (C = {num_classes} is '
                         f'background for indices), got {bad_value}')


def use_fused(pred: Tensor) -> bool:
    """Whether :func:`asymmetric_loss` runs the fused kernel for ``pred``: for CUDA float32,
    float16 and bfloat16 logits when the environment and the device have what the kernel needs
    (:mod:`asl_mmdet.ops.fused_support`; checked once per process, one warning naming what is
    missing), unless ``ASL_MMDET_IMPL`` is ``ref`` (always the reference) or ``triton``
    (always the kernel)."""
    impl = os.environ.get(IMPL_ENV) or 'auto'
    if impl not in IMPLS:
        raise ValueError(f'{IMPL_ENV} must be one of {IMPLS} or unset, got {impl!r}')
    if impl == 'triton' and not HAS_TRITON:
        raise RuntimeError(f'{IMPL_ENV}=triton but Triton is not installed')
    if impl == 'auto':
        return fused_support.fused_available(pred)
    return impl == 'triton'


def asymmetric_loss(pred: Tensor,
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
    """Asymmetric Loss (Ridnik et al., ICCV 2021, Eq. 7) with MMDetection's reduction rules.

    For ``p = sigmoid(z)`` and ``p_m = max(p - m, 0)``:
    ``loss = -y (1 - p)^gamma_pos log(p) - (1 - y) p_m^gamma_neg log(1 - p_m)``,
    with ``alpha`` (if given) weighting positives and ``1 - alpha`` negatives.
    Runs the fused Triton kernel for CUDA logits, the reference otherwise (see the module).

    Args:
        pred (Tensor): logits of shape (N, C).
        target (Tensor): class indices of shape (N,) in [0, C], C meaning background
            (dense heads), or multi-hot / soft labels of shape (N, C) in [0, 1].
        weight (Tensor, optional): element weights of shape (N,), (N, 1) or (N, C).
        gamma_pos (float): ``gamma_+`` >= 0.
        gamma_neg (float): ``gamma_-`` >= 0.
        clip (float, optional): probability margin ``m`` in [0, 1); None means 0.
        alpha (float, optional): static weight of positives in [0, 1].
        detach_focal_weight (bool): False for the full gradient of Eq. 8; True to treat the
            focusing weights as constants (the official ``disable_torch_grad_focal_loss``).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        avg_factor (float | Tensor, optional): with ``'mean'``, the loss is
            ``sum / (avg_factor + eps)``, formed in float32 (float64) before the cast to
            pred's dtype; with ``'sum'`` it is an error. A finite number > 0 or a
            one-element tensor holding one (0, a negative, NaN, a bool are errors: checked on
            the host for CPU tensors, by a device assert otherwise).
        loss_weight (float): factor applied to the result.
        eps (float): added to ``avg_factor``.
        return_prob_sums (bool): also return the probability analysis' weighted sums
            ``[sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]`` (Eq. 9-10; for
            class indices ``y`` is 1 at the labelled element), computed from the
            probabilities the loss computes: no extra pass over the logits.

    Returns:
        Tensor | tuple[Tensor, Tensor]: the loss, a scalar, or the (N, C) element-wise loss
        for ``'none'``, in pred's dtype; with ``return_prob_sums``, also the detached sums of
        shape (4,) (float32, float64 for float64 logits).
    """
    args = (pred, target, weight, gamma_pos, gamma_neg, clip, alpha, detach_focal_weight,
            reduction, avg_factor, loss_weight, eps, return_prob_sums)
    if isinstance(pred, Tensor) and use_fused(pred):
        from .asymmetric_loss_triton import asymmetric_loss_fused
        if os.environ.get(IMPL_ENV) == 'triton':  # forced: errors surface
            return asymmetric_loss_fused(*args)
        return fused_support.fused_or_reference(
            lambda: asymmetric_loss_fused(*args),
            lambda: apply_asymmetric_loss(AsymmetricLossRefFunction, False, *args))
    return apply_asymmetric_loss(AsymmetricLossRefFunction, False, *args)


def apply_asymmetric_loss(function, checks_labels: bool, pred: Tensor, target: Tensor,
                          weight: Optional[Tensor], gamma_pos: float, gamma_neg: float,
                          clip: Optional[float], alpha: Optional[float],
                          detach_focal_weight: bool, reduction: str,
                          avg_factor: Optional[Union[float, Tensor]], loss_weight: float,
                          eps: float,
                          return_prob_sums: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """:func:`asymmetric_loss` computed by ``function``, an autograd Function with the
    signature of :class:`AsymmetricLossRefFunction`; ``checks_labels`` says that it
    range-checks the labels itself on the device (then they are checked here only on the CPU
    in eager mode, where an error can name the bad value)."""
    check_asl_params(gamma_pos, gamma_neg, clip, alpha, eps, reduction, loss_weight,
                     detach_focal_weight)
    check_bool('return_prob_sums', return_prob_sums)
    weight = check_inputs(pred, target, weight)
    if not checks_labels or (target.device.type == 'cpu'
                             and not torch.compiler.is_compiling()):
        check_target_values(target, pred.shape[1])
    check_avg_factor(avg_factor, reduction)

    divide_by = None
    if reduction in ('none', 'sum'):
        scale = loss_weight
    elif avg_factor is None:
        scale = loss_weight / max(pred.numel(), 1)
    elif isinstance(avg_factor, Tensor):
        # divided after the reduction, in the float32 (float64) the Function sums in: a
        # float16 sum cast before the division would overflow to inf
        scale, divide_by = loss_weight, avg_factor
    else:
        scale = loss_weight / (avg_factor + eps)

    out = function.apply(pred, target, weight, float(gamma_pos), float(gamma_neg),
                         float(clip or 0.0), None if alpha is None else float(alpha),
                         detach_focal_weight, reduction != 'none', float(scale),
                         return_prob_sums)
    loss, sums = out if return_prob_sums else (out, None)
    if divide_by is not None:
        loss = loss / (divide_by.to(loss.dtype) + eps)
    loss = loss.to(pred.dtype)  # a reduced loss comes in the dtype it was summed in
    return (loss, sums) if return_prob_sums else loss
