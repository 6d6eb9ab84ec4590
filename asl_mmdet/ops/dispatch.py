"""Asymmetric Loss entry points: pick the implementation.

:func:`asymmetric_loss` runs the fused Triton kernel (:mod:`asl_mmdet.ops.fused`) for CUDA
logits of dtype float32, float16 or bfloat16 when Triton is installed, and the plain-PyTorch
reference (:mod:`asl_mmdet.ops.reference`) otherwise. The environment variable
``ASL_MMDET_IMPL`` forces either: ``ref``, ``triton``, or unset / ``auto``. To call one
implementation whatever the environment, use :func:`asl_mmdet.ops.asymmetric_loss_ref` or
:func:`asl_mmdet.ops.asymmetric_loss_fused` (same signature).

:func:`asymmetric_loss_single_label` (the softmax loss) picks between
:mod:`asl_mmdet.ops.fused_single_label` (class indices) and :mod:`asl_mmdet.ops.single_label`
the same way; soft labels always run the reference.

With ``return_prob_sums=True`` both multi-label implementations also return the weighted sums
of the paper's probability analysis (Sec. 2.6), computed in the same pass as the loss; see
:mod:`asl_mmdet.ops.probability_analysis`.
"""
import os
from typing import Callable, Optional, Sequence, Tuple, Union

from torch import Tensor

from ..utils import compat
from . import fused_support, self_check
from .contract import DEFAULT_EPS
from .reference import asymmetric_loss_ref
from .single_label import asymmetric_loss_single_label_ref

__all__ = ['asymmetric_loss', 'asymmetric_loss_single_label', 'use_fused', 'HAS_TRITON',
           'IMPL_ENV', 'IMPLS']

IMPL_ENV = 'ASL_MMDET_IMPL'
IMPLS = ('auto', 'ref', 'triton')
HAS_TRITON = compat.triton_installed()


def use_fused(pred: Tensor) -> bool:
    """Whether :func:`asymmetric_loss` runs the fused kernel for ``pred``: for CUDA float32,
    float16 and bfloat16 logits when the environment and the device have what the kernel needs
    (:mod:`asl_mmdet.ops.fused_support`; checked once per process, one warning naming what is
    missing), unless ``ASL_MMDET_IMPL`` is ``ref`` (always the reference) or ``triton``
    (always the kernel)."""
    impl = os.environ.get(IMPL_ENV) or 'auto'
    if impl not in IMPLS:
        raise ValueError(f'{IMPL_ENV} must be one of {IMPLS} or unset, got {impl!r}')
    if impl == 'triton':
        reason = compat.kernels_unsupported()
        if reason is not None:
            raise RuntimeError(f'{IMPL_ENV}=triton, but {reason}')
    if impl == 'auto':
        return fused_support.fused_available(pred)
    return impl == 'triton'


def _run_fused(family: str, fused: Callable, reference: Callable, probe: Callable,
               args: tuple):
    """``fused(*args)``: forced by ``ASL_MMDET_IMPL=triton``, its errors surface; otherwise
    after the family's self-check on the device (its first eager call: ``probe(fused,
    reference, *args)``, :func:`~asl_mmdet.ops.fused_support.self_check_failed`), and a kernel
    that fails the check or to compile warns once and ``reference(*args)`` runs instead, for
    the rest of the process (:func:`~asl_mmdet.ops.fused_support.fused_or_reference`)."""
    if os.environ.get(IMPL_ENV) == 'triton':
        return fused(*args)
    if fused_support.self_check_failed(family, args[0],
                                       lambda: probe(fused, reference, *args)):
        return reference(*args)
    return fused_support.fused_or_reference(lambda: fused(*args), lambda: reference(*args))


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
                    eps: float = DEFAULT_EPS,
                    return_prob_sums: bool = False,
                    class_weight: Optional[Sequence[float]] = None
                    ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Asymmetric Loss (Ridnik et al., ICCV 2021, Eq. 7) with MMDetection's reduction rules.

    For ``p = sigmoid(z)`` and ``p_m = max(p - m, 0)``:
    ``loss = -y (1 - p)^gamma_pos log(p) - (1 - y) p_m^gamma_neg log(1 - p_m)``,
    with ``alpha`` (if given) weighting positives and ``1 - alpha`` negatives.
    Runs the fused Triton kernel for CUDA logits, the reference otherwise (see the module).

    Args:
        pred (Tensor): logits of shape (N, C).
        target (Tensor): class indices of shape (N,) in [0, C], C meaning background
            (dense heads), or multi-hot / soft labels of shape (N, C) in [0, 1] where -1
            marks an unknown (ignored) element: it adds no loss and no gradient (exact
            zeros, whatever its logit) and is left out of the probability sums, exactly like
            an element of weight 0. It still counts in the ``'mean'`` reduction's ``numel``,
            and ``avg_factor`` is not reduced by it (MMDetection's ``weight_reduce_loss``
            with weight 0 there).
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
        class_weight (list[float] | tuple[float], optional): one weight per class (finite,
            >= 0), multiplied on top of ``weight`` along the columns, like MMDetection's
            ``CrossEntropyLoss(class_weight=...)``; its length must be C (the background
            index C of class-index targets has no column, hence no weight). The fused kernel
            reads it as a (C,) vector: no (N, C) copy.

    Returns:
        Tensor | tuple[Tensor, Tensor]: the loss, a scalar, or the (N, C) element-wise loss
        for ``'none'``, in pred's dtype; with ``return_prob_sums``, also the detached sums of
        shape (4,) (float32, float64 for float64 logits).
    """
    args = (pred, target, weight, gamma_pos, gamma_neg, clip, alpha, detach_focal_weight,
            reduction, avg_factor, loss_weight, eps, return_prob_sums, class_weight)
    if isinstance(pred, Tensor) and use_fused(pred):
        from . import fused
        return _run_fused('Asymmetric Loss', fused.asymmetric_loss_fused, asymmetric_loss_ref,
                          _multi_label_probe, args)
    return asymmetric_loss_ref(*args)


def asymmetric_loss_single_label(pred: Tensor,
                                 target: Tensor,
                                 weight: Optional[Tensor] = None,
                                 gamma_pos: float = 0.0,
                                 gamma_neg: float = 4.0,
                                 label_smoothing: float = 0.1,
                                 reduction: str = 'mean',
                                 avg_factor: Optional[Union[float, Tensor]] = None,
                                 loss_weight: float = 1.0,
                                 eps: float = DEFAULT_EPS) -> Tensor:
    """Single-label (softmax) Asymmetric Loss with MMDetection's reduction rules.

    For ``log p = log_softmax(z)``, labels ``t`` (one-hot of a class index, or soft),
    ``w_c = (t_c (1 - p_c) + (1 - t_c) p_c) ^ (gamma_pos t_c + gamma_neg (1 - t_c))`` and the
    smoothed labels ``s = (1 - label_smoothing) t + label_smoothing / C``, the loss of a sample
    is ``-sum_c s_c w_c log p_c``: the official ``ASLSingleLabel`` (see
    :mod:`asl_mmdet.ops.single_label`). Class indices run the fused Triton kernel
    (:mod:`asl_mmdet.ops.fused_single_label`) where :func:`use_fused` says so, soft labels and
    everything else the reference.

    Args:
        pred (Tensor): logits of shape (N, C).
        target (Tensor): class indices of shape (N,) in [0, C) (an integer dtype), or soft
            labels of shape (N, C) in [0, 1] (mixup / cutmix).
        weight (Tensor, optional): per-sample weights of shape (N,).
        gamma_pos (float): ``gamma_+`` >= 0, focusing of the labelled class.
        gamma_neg (float): ``gamma_-`` >= 0, focusing of the other classes.
        label_smoothing (float): in [0, 1).
        reduction (str): ``'none'`` (the (N,) per-sample loss), ``'mean'`` or ``'sum'``.
        avg_factor (float | Tensor, optional): with ``'mean'``, the loss is
            ``sum / (avg_factor + eps)``; with ``'sum'`` it is an error.
        loss_weight (float): factor applied to the result.
        eps (float): added to ``avg_factor``.

    Returns:
        Tensor: the loss, a scalar, or of shape (N,) for ``'none'``, in pred's dtype.
    """
    args = (pred, target, weight, gamma_pos, gamma_neg, label_smoothing, reduction, avg_factor,
            loss_weight, eps)
    if (isinstance(pred, Tensor) and isinstance(target, Tensor)
            and not target.dtype.is_floating_point and use_fused(pred)):
        from . import fused_single_label
        return _run_fused('single-label Asymmetric Loss',
                          fused_single_label.asymmetric_loss_single_label_fused,
                          asymmetric_loss_single_label_ref, _single_label_probe, args)
    return asymmetric_loss_single_label_ref(*args)


_MULTI_LABEL_ARGS = ('gamma_pos', 'gamma_neg', 'clip', 'alpha', 'detach_focal_weight',
                     'reduction', 'avg_factor', 'loss_weight', 'eps', 'return_prob_sums',
                     'class_weight')
_SINGLE_LABEL_ARGS = ('gamma_pos', 'gamma_neg', 'label_smoothing', 'reduction', 'avg_factor',
                      'loss_weight', 'eps')


def _multi_label_probe(fused: Callable, reference: Callable, pred, target, weight, *rest):
    return self_check.probe_multi_label(fused, reference, pred, target, weight,
                                        **dict(zip(_MULTI_LABEL_ARGS, rest)))


def _single_label_probe(fused: Callable, reference: Callable, pred, target, weight, *rest):
    return self_check.probe_single_label(fused, reference, pred, target, weight,
                                         **dict(zip(_SINGLE_LABEL_ARGS, rest)))
