"""The Asymmetric Loss' argument contract: hyper-parameters, argument checks and
MMDetection's reduction rules, shared by the reference (:mod:`asl_mmdet.ops.reference`) and the
fused kernel (:mod:`asl_mmdet.ops.fused`).

:class:`ASLParams` holds the loss' hyper-parameters, checked once when it is built;
:func:`make_asymmetric_loss` builds the loss around an autograd Function with the signature of
:class:`asl_mmdet.ops.reference.AsymmetricLossRefFunction` under MMDetection's rules: the
inputs checked, ``'mean'`` is ``sum / numel`` or ``sum / (avg_factor + eps)``, ``'sum'`` with an
``avg_factor`` is an error, the result is times ``loss_weight`` and in pred's dtype.
"""
import dataclasses
import functools
import math
import numbers
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ..utils import compat

__all__ = ['ASLParams', 'make_asymmetric_loss', 'check_asl_params', 'check_avg_factor',
           'check_bool', 'check_class_weight', 'check_inputs', 'check_number',
           'check_pred_and_target', 'check_reduction', 'check_target_values',
           'class_weight_tensor', 'describe', 'reduction_scale', 'DEFAULT_EPS', 'FUSED_DTYPES',
           'IGNORE_LABEL', 'INDEX_DTYPES', 'REDUCTIONS']

REDUCTIONS = ('none', 'mean', 'sum')
DEFAULT_EPS = torch.finfo(torch.float32).eps  # MMDetection's, added to avg_factor
FUSED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)  # the fused kernel's logits
INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)  # class indices
IGNORE_LABEL = -1.0  # a dense label of this value is unknown: no loss, no gradient


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
        raise TypeError(f'{name} must be a bool, got {describe(value)}')


@dataclasses.dataclass(frozen=True)
class ASLParams:
    """The Asymmetric Loss' hyper-parameters (paper Eq. 7), checked when built.

    Args:
        gamma_pos (float): ``gamma_+`` >= 0.
        gamma_neg (float): ``gamma_-`` >= 0.
        clip (float, optional): probability margin ``m`` in [0, 1); None means 0.
        alpha (float, optional): static weight of positives in [0, 1].
        detach_focal_weight (bool): treat the focusing weights as constants in the gradient.

    Raises:
        TypeError, ValueError: naming the first bad hyper-parameter and its value.
    """
    gamma_pos: float = 0.0
    gamma_neg: float = 4.0
    clip: Optional[float] = 0.05
    alpha: Optional[float] = None
    detach_focal_weight: bool = False

    def __post_init__(self) -> None:
        check_number('gamma_pos', self.gamma_pos, 0)
        check_number('gamma_neg', self.gamma_neg, 0)
        if self.clip is not None:
            check_number('clip', self.clip, 0, 1, high_inclusive=False)
        if self.alpha is not None:
            check_number('alpha', self.alpha, 0, 1)
        check_bool('detach_focal_weight', self.detach_focal_weight)

    def function_args(self) -> Tuple[float, float, float, Optional[float], bool]:
        """``(gamma_pos, gamma_neg, clip, alpha, detach_focal_weight)`` as the autograd
        Functions take them: floats, and clip 0 for None."""
        return (float(self.gamma_pos), float(self.gamma_neg), float(self.clip or 0.0),
                None if self.alpha is None else float(self.alpha), self.detach_focal_weight)


def check_reduction(reduction: str, loss_weight: float, eps: float) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first bad argument of the reduction."""
    check_number('eps', eps, 0, low_inclusive=False)
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    check_number('loss_weight', loss_weight)


def check_asl_params(gamma_pos: float, gamma_neg: float, clip: Optional[float],
                     alpha: Optional[float], eps: float, reduction: str,
                     loss_weight: float = 1.0, detach_focal_weight: bool = False) -> None:
    """Raise ``TypeError``/``ValueError`` naming the first bad hyper-parameter."""
    ASLParams(gamma_pos, gamma_neg, clip, alpha, detach_focal_weight)
    check_reduction(reduction, loss_weight, eps)


def check_avg_factor(avg_factor: Optional[Union[float, Tensor]], reduction: str) -> None:
    """``avg_factor``: None, a finite number > 0, or a one-element real tensor holding one
    (checked on the host for CPU tensors, with an asynchronous device assert otherwise). A
    number is not checked under ``torch.compile``: Dynamo traces one that changes from call to
    call (a head's number of positives) as a symbol, which no host check can read."""
    if avg_factor is None:
        return
    if reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    if not isinstance(avg_factor, Tensor):
        if not compat.is_compiling():
            check_number('avg_factor', avg_factor, 0, low_inclusive=False)
        return
    if avg_factor.numel() != 1 or avg_factor.dtype == torch.bool or avg_factor.is_complex():
        raise ValueError(f'avg_factor must be a number or a one-element real Tensor, got '
                         f'{describe(avg_factor)}')
    if avg_factor.device.type == 'cpu' and not compat.is_compiling():
        check_number('avg_factor', avg_factor.item(), 0, low_inclusive=False)
    else:
        ok = torch.isfinite(avg_factor) & (avg_factor > 0)
        torch._assert_async(ok.reshape(()), 'avg_factor must be a finite number > 0')


def check_pred_and_target(pred: Tensor, target: Tensor, soft: bool = False,
                          min_classes: int = 0) -> None:
    """Check that ``pred`` is floating (N, C), C >= ``min_classes``, and ``target`` either
    integer class indices (N,) (:data:`INDEX_DTYPES`) or floating labels (N, C); ``soft``
    calls the floating labels soft labels in the messages (the single-label loss)."""
    if not isinstance(pred, Tensor) or not pred.dtype.is_floating_point:
        raise TypeError(f'pred must be a floating-point Tensor, got {describe(pred)}')
    if pred.dim() != 2 or pred.shape[1] < min_classes:
        at_least = f' with C >= {min_classes}' if min_classes else ''
        raise ValueError(f'pred must have shape (N, C){at_least}, got {tuple(pred.shape)}')
    num = pred.shape[0]
    if not isinstance(target, Tensor):
        raise TypeError(f'target must be a Tensor, got {describe(target)}')
    soft_ = 'soft ' if soft else ''
    if target.dtype.is_floating_point:
        if target.shape != pred.shape:
            raise ValueError(f'{soft_}target of dtype {target.dtype} must have the shape of '
                             f'pred {tuple(pred.shape)}, got {tuple(target.shape)}')
    elif target.dtype in INDEX_DTYPES:
        if target.shape != (num, ):
            raise ValueError(f'target of class indices ({target.dtype}) must have shape '
                             f'({num},), got {tuple(target.shape)}')
    else:
        raise TypeError(f'target must hold integer class indices or floating-point {soft_}'
                        f'labels, got dtype {target.dtype}')


def check_inputs(pred: Tensor, target: Tensor, weight: Optional[Tensor]) -> Optional[Tensor]:
    """Check shapes and dtypes; return ``weight`` viewed as (N, 1) or (N, C)."""
    check_pred_and_target(pred, target)
    num, num_classes = pred.shape
    if weight is None:
        return None
    if not isinstance(weight, Tensor):
        raise TypeError(f'weight must be a Tensor or None, got {describe(weight)}')
    if weight.shape in ((num, ), (num, 1)):
        return weight.reshape(num, 1)
    if weight.shape == (num, num_classes):
        return weight
    raise ValueError(f'weight must have shape ({num},), ({num}, 1) or ({num}, {num_classes}) '
                     f'to match pred, got {tuple(weight.shape)}')


def describe(value) -> str:
    """A bad argument in an error message: a tensor's dtype and shape, else repr and type."""
    if isinstance(value, Tensor):
        return f'Tensor of dtype {value.dtype} and shape {tuple(value.shape)}'
    return f'{value!r} ({type(value).__name__})'


def check_target_values(target: Tensor, num_classes: int) -> None:
    """Class indices in [0, C]; dense labels in [0, 1] or -1 (:data:`IGNORE_LABEL`, ignored);
    NaN is out of range. No host sync on accelerators."""
    if target.numel() == 0:
        return
    dense = target.dtype.is_floating_point
    high = 1 if dense else num_classes
    name = 'labels' if dense else 'class indices'
    allowed = f'[0, {high}] or {IGNORE_LABEL:g} (ignored)' if dense else f'[0, {high}]'
    if target.device.type != 'cpu' or compat.is_compiling():
        good = (target >= 0) & (target <= high)
        if dense:
            good |= target == IGNORE_LABEL
        torch._assert_async(good.all(), f'target {name} must be in {allowed}')
        return
    low_value, high_value = target.min().item(), target.max().item()
    if low_value >= 0 and high_value <= high:  # NaN fails both comparisons
        return
    if dense:
        bad = ~(((target >= 0) & (target <= 1)) | (target == IGNORE_LABEL))
        if not bad.any():
            return
        bad_value = target[bad][0].item()
    else:
        bad_value = high_value if low_value >= 0 else low_value
    note = '' if dense else f' (C = {num_classes} is background)'
    raise ValueError(f'target {name} must be in {allowed}{note}, got {bad_value}')


def check_class_weight(class_weight) -> Optional[Tensor]:
    """Check ``class_weight`` (None, or a list / tuple of finite numbers >= 0, one per
    class, as MMDetection's ``CrossEntropyLoss(class_weight=...)`` takes it).

    Returns:
        Tensor | None: the weights as a float64 CPU tensor of shape (C,).

    Raises:
        TypeError: not a list or tuple, or an entry that is not a real number (bools are
            not); the message names ``class_weight[i]`` and the value.
        ValueError: empty, or an entry negative, NaN or infinite (named the same way).
    """
    if class_weight is None:
        return None
    if not isinstance(class_weight, (list, tuple)):
        raise TypeError(f'class_weight must be None or a list / tuple of numbers, one per '
                        f'class, got {describe(class_weight)}')
    if len(class_weight) == 0:
        raise ValueError('class_weight must hold one weight per class, got an empty '
                         f'{type(class_weight).__name__}')
    for index, value in enumerate(class_weight):  # plain Python: no graph break when compiled
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not (math.isfinite(value) and value >= 0)):
            check_number(f'class_weight[{index}]', value, 0)
    return torch.tensor([float(value) for value in class_weight], dtype=torch.float64)


def class_weight_tensor(class_weight, pred: Tensor) -> Optional[Tensor]:
    """``class_weight`` checked (:func:`check_class_weight`) and against pred's C, as a
    contiguous (C,) tensor on pred's device, float32 (float64 for float64 logits).

    Raises:
        ValueError: its length is not pred's number of classes C.
    """
    weights = check_class_weight(class_weight)
    if weights is None:
        return None
    num_classes = pred.shape[1]
    if weights.numel() != num_classes:
        raise ValueError(f'class_weight must hold one weight per class: got {weights.numel()} '
                         f'weights for pred of shape {tuple(pred.shape)} (C = {num_classes})')
    dtype = torch.float64 if pred.dtype == torch.float64 else torch.float32
    return _class_weight_on(tuple(float(w) for w in class_weight), pred.device, dtype)


@functools.lru_cache(maxsize=64)
def _class_weight_on(weights: Tuple[float, ...], device: torch.device,
                     dtype: torch.dtype) -> Tensor:
    """The (C,) tensor of ``weights`` on ``device``, made once per weights, device and dtype:
    a loss module's ``class_weight`` crosses to the GPU once, not at every step (a blocking
    host-to-device copy each). Nobody writes into it."""
    return torch.tensor(weights, dtype=dtype, device=device)


def reduction_scale(reduction: str, avg_factor: Optional[Union[float, Tensor]],
                    loss_weight: float, eps: float,
                    numel: int) -> Tuple[float, Optional[Tensor]]:
    """MMDetection's reduction as ``(scale, divide_by)``: the Function returns
    ``scale * sum(loss)`` (``scale * loss`` for ``'none'``), then a tensor ``avg_factor``
    (``divide_by``) divides it. ``numel`` is the number of loss elements."""
    if reduction in ('none', 'sum'):
        return loss_weight, None
    if avg_factor is None:
        return loss_weight / max(numel, 1), None
    if isinstance(avg_factor, Tensor):
        # divided after the reduction, in the float32 (float64) the Function sums in: a
        # float16 sum cast before the division would overflow to inf
        return loss_weight, avg_factor
    return loss_weight / (avg_factor + eps), None


def make_asymmetric_loss(function, checks_labels: bool, name: str, doc: str) -> Callable:
    """:func:`asl_mmdet.ops.asymmetric_loss`, with its signature, computed by ``function``.

    Args:
        function: an autograd Function with the signature of
            :class:`asl_mmdet.ops.reference.AsymmetricLossRefFunction`.
        checks_labels (bool): ``function`` range-checks the labels itself on the device (then
            they are checked here only on the CPU in eager mode, where an error can name the
            bad value).
        name (str): the function's name, in the module of ``function``.
        doc (str): its docstring.
    """

    def loss(pred: Tensor,
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
             eps: float = DEFAULT_EPS,
             return_prob_sums: bool = False,
             class_weight: Optional[Sequence[float]] = None
             ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        params = ASLParams(gamma_pos, gamma_neg, clip, alpha, detach_focal_weight)
        check_reduction(reduction, loss_weight, eps)
        check_bool('return_prob_sums', return_prob_sums)
        weight = check_inputs(pred, target, weight)
        class_weight = class_weight_tensor(class_weight, pred)
        if not checks_labels or (target.device.type == 'cpu'
                                 and not compat.is_compiling()):
            check_target_values(target, pred.shape[1])
        check_avg_factor(avg_factor, reduction)

        scale, divide_by = reduction_scale(reduction, avg_factor, loss_weight, eps,
                                           pred.numel())
        out = function.apply(pred, target, weight, *params.function_args(),
                             reduction != 'none', float(scale), return_prob_sums, class_weight)
        loss, sums = out if return_prob_sums else (out, None)
        if divide_by is not None:
            loss = loss / (divide_by.to(loss.dtype) + eps)
        loss = loss.to(pred.dtype)  # a reduced loss comes in the dtype it was summed in
        return (loss, sums) if return_prob_sums else loss

    loss.__name__ = loss.__qualname__ = name
    loss.__module__ = function.__module__
    loss.__doc__ = doc
    return loss
