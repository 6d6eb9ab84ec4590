"""The probability analysis of the ASL paper (Sec. 2.6): p_t+, p_t- and the gap Delta p.

With ``p = sigmoid(z)`` (Eq. 9) the paper's ``p_t+`` is the mean probability of the positive
elements of a batch and ``p_t-`` the mean of ``1 - p`` over its negatives; Eq. 10 defines the
probability gap ``Delta p = p_t+ - p_t-``. To cover class-index targets (every element but the
labelled one of a row is a negative), multi-hot or soft labels and MMDetection's weights (an
ignored anchor has weight 0 and drops out; so does an ignored dense label, -1), the means are
ratios of four weighted sums, with ``w`` the weight (1 without weights) and ``y`` the label::

    sums = [sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]
    p_t+ = sums[0] / sums[1],  p_t- = sums[2] / sums[3]

Sums, unlike means, add up over the FPN levels of a detection head, over iterations and over
distributed ranks. :func:`asl_mmdet.ops.asymmetric_loss` returns them from the probabilities it
computes anyway (``return_prob_sums=True``: the reference sums them from its ``sigmoid``, the
fused kernel in the same pass over the logits); :func:`probability_sums` computes them from
logits for any other sigmoid loss.
"""
from typing import Optional, Tuple

import torch
from torch import Tensor

from .contract import check_inputs, check_target_values
from .reference import compute_dtype, prob_sums_from_probs

__all__ = ['PROB_SUM_NAMES', 'probability_sums', 'probability_gap']

PROB_SUM_NAMES = ('pos_prob', 'pos_weight', 'neg_prob', 'neg_weight')


def probability_sums(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                     activated: bool = False) -> Tensor:
    """The four weighted sums of the probability analysis, from logits (one extra pass).

    Args:
        pred (Tensor): logits of shape (N, C), or probabilities if ``activated``.
        target (Tensor): class indices of shape (N,) in [0, C] (C is background), or
            multi-hot / soft labels of shape (N, C) in [0, 1], -1 for an ignored element
            (left out of every sum).
        weight (Tensor, optional): element weights of shape (N,), (N, 1) or (N, C).
        activated (bool): ``pred`` holds probabilities already (like MMDetection's
            ``FocalLoss(activated=True)``).

    Returns:
        Tensor: ``[sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]``, shape
        (4,), detached, float32 (float64 for float64 logits).
    """
    if not isinstance(activated, bool):
        raise TypeError(f'activated must be a bool, got {activated!r}')
    weight = check_inputs(pred, target, weight)
    if target.device.type == 'cpu':
        check_target_values(target, pred.shape[1])
    dtype = compute_dtype(pred.dtype)
    with torch.no_grad():
        if target.dtype.is_floating_point:
            target = target.to(dtype)
        probs = pred.to(dtype) if activated else torch.sigmoid(pred.to(dtype))
        return prob_sums_from_probs(probs, target, None if weight is None else weight.to(dtype))


def probability_gap(sums: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """``p_t+``, ``p_t-`` and ``Delta p = p_t+ - p_t-`` (Eq. 9-10) from the four sums.

    A mean over no elements (no positives, say) is NaN. Runs on the sums' device: no host
    synchronisation.

    Args:
        sums (Tensor): the sums of :func:`probability_sums`, shape (4,).

    Returns:
        tuple[Tensor, Tensor, Tensor]: ``p_t+``, ``p_t-`` and ``Delta p``, scalars.
    """
    if not isinstance(sums, Tensor) or sums.shape != (4, ) or not sums.dtype.is_floating_point:
        got = (f'Tensor of dtype {sums.dtype} and shape {tuple(sums.shape)}'
               if isinstance(sums, Tensor) else f'{sums!r} ({type(sums).__name__})')
        raise ValueError(f'sums must be a floating-point Tensor of shape (4,) '
                         f'{PROB_SUM_NAMES}, got {got}')
    pos_prob, pos_weight, neg_prob, neg_weight = sums.unbind()
    p_pos, p_neg = pos_prob / pos_weight, neg_prob / neg_weight
    return p_pos, p_neg, p_pos - p_neg
