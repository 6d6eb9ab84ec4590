"""Plain-PyTorch Asymmetric Loss: the CPU path and the oracle of the fused kernel.

The forward pass computes the loss and its gradient with respect to the logits in closed form
(paper Eq. 7 and Eq. 8), so backward only scales the stored gradient. This costs far fewer
passes over the logits than letting autograd trace the formula, and it stays finite for any
finite logit: ``log(1 - p)`` comes from ``logsigmoid`` and the shifted ``log(1 - p_m)`` has
``1 - p_m >= m``. With class-index targets (dense heads) every element is a negative except
at most one per row, so the negative term is computed everywhere and the positive term only
at the labelled positions. A dense label of -1 (:data:`asl_mmdet.ops.contract.IGNORE_LABEL`) marks
an unknown element: its loss and gradient are exactly 0 (whatever its logit) and it is left out
of the probability sums, as an element of weight 0 would be.

On request the forward pass also returns the four weighted sums of the probability analysis
(paper Sec. 2.6, Eq. 9-10), computed from the ``p = sigmoid(z)`` that the negative term uses:
see :func:`prob_sums_from_probs`.
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils import compat
from .contract import IGNORE_LABEL, make_asymmetric_loss

__all__ = ['asymmetric_loss_ref', 'asl_loss_and_grad', 'negative_terms', 'positive_terms',
           'prob_sums_from_probs', 'check_first_order', 'compute_dtype',
           'AsymmetricLossRefFunction', 'DOUBLE_BACKWARD_MESSAGE']

_Terms = Tuple[Tensor, Optional[Tensor]]


def _power(base: Tensor, exponent: float) -> Optional[Tensor]:
    """``base ** exponent``, None for exponent 0; squarings for 1, 2 and 4 (cheaper than pow)."""
    if exponent == 0:
        return None
    if exponent == 1:
        return base
    if exponent in (2, 4):
        out = base * base
        return out.mul_(out) if exponent == 4 else out
    return base.pow(exponent)


def negative_terms(z: Tensor, gamma_neg: float, clip: float, detach_focal_weight: bool,
                   need_grad: bool, p: Optional[Tensor] = None) -> _Terms:
    """``-L-`` of Eq. 6 and its derivative (Eq. 8) for logits ``z`` of any shape.

    With ``p_m = max(p - m, 0)``: ``-L- = -p_m^g log(1 - p_m)`` and
    ``d(-L-)/dz = p_m^g [1 / (1 - p_m) - g log(1 - p_m) / p_m] p (1 - p)``, zero where p <= m.
    ``p``, if given, is ``sigmoid(z)`` computed already; it is overwritten.
    """
    if p is None:
        p = torch.sigmoid(z)
    if clip > 0:
        p_m = p.sub(clip).clamp_(min=0)
        r = torch.rsub(p_m, 1)  # 1 - p_m >= m
        log_r = torch.log(r)
        w = _power(p_m, gamma_neg)
        loss = log_r.neg() if w is None else torch.mul(w, log_r).neg_()
        if not need_grad:
            return loss, None
        dpq = p.mul_(torch.sigmoid(-z))  # dp/dz = p (1 - p), 1 - p without cancellation
        grad = r.reciprocal_()
        if w is not None and not detach_focal_weight:
            grad.sub_(log_r.div_(p_m).mul_(gamma_neg))  # NaN where p_m = 0: masked below
        grad.mul_(dpq)
        if w is not None:
            grad.mul_(w)
        return loss, grad.masked_fill_(p_m == 0, 0)
    log_q = F.logsigmoid(-z)  # log(1 - p)
    w = _power(p, gamma_neg)
    loss = log_q.neg() if w is None else torch.mul(w, log_q).neg_()
    if not need_grad:
        return loss, None
    if w is None:  # cross-entropy: d(-log(1 - p))/dz = p
        return loss, p
    if detach_focal_weight:
        return loss, p.mul_(w)
    q = torch.rsub(p, 1)
    return loss, q.mul_(log_q).mul_(-gamma_neg).add_(p).mul_(w)


def positive_terms(z: Tensor, gamma_pos: float, detach_focal_weight: bool,
                   need_grad: bool) -> _Terms:
    """``-L+ = -(1 - p)^g log(p)`` and ``d(-L+)/dz = (1 - p)^g (g p log(p) - (1 - p))``."""
    log_p = F.logsigmoid(z)
    q = torch.sigmoid(-z)
    w = _power(q, gamma_pos)
    loss = log_p.neg() if w is None else torch.mul(w, log_p).neg_()
    if not need_grad:
        return loss, None
    if w is None:
        return loss, q.neg_()
    if detach_focal_weight:
        return loss, torch.mul(w, q).neg_()
    p = torch.rsub(q, 1)
    return loss, p.mul_(log_p).mul_(gamma_pos).sub_(q).mul_(w)


def asl_loss_and_grad(logits: Tensor, target: Tensor, gamma_pos: float, gamma_neg: float,
                      clip: float, alpha: Optional[float], detach_focal_weight: bool,
                      need_grad: bool, probs: Optional[Tensor] = None) -> _Terms:
    """Element-wise Asymmetric Loss ``-y L+ - (1 - y) L-`` (Eq. 7) and its gradient.

    Args:
        logits (Tensor): logits ``z`` of shape (N, C), float32 or float64.
        target (Tensor): class indices of shape (N,) in [0, C] (C is background), or
            labels ``y`` of shape (N, C) in [0, 1] in the dtype of ``logits``, -1 for an
            ignored element (its loss and gradient are 0).
        gamma_pos (float): focusing parameter of positives, ``gamma_+``.
        gamma_neg (float): focusing parameter of negatives, ``gamma_-``.
        clip (float): probability margin ``m`` of Eq. 5, in [0, 1).
        alpha (float, optional): weight of positives (negatives get ``1 - alpha``).
        detach_focal_weight (bool): treat the focusing weights as constants in the gradient.
        need_grad (bool): whether to compute the gradient.
        probs (Tensor, optional): ``sigmoid(logits)`` if computed already (it is overwritten).

    Returns:
        tuple[Tensor, Tensor | None]: the loss of shape (N, C) and its derivative with
        respect to ``z`` (None when ``need_grad`` is False).
    """
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1.0 - alpha)
    loss, grad = negative_terms(logits, gamma_neg, clip, detach_focal_weight, need_grad,
                                probs)
    if a_neg != 1:
        loss.mul_(a_neg)
        if need_grad:
            grad.mul_(a_neg)
    if target.dtype.is_floating_point:
        loss_pos, grad_pos = positive_terms(logits, gamma_pos, detach_focal_weight, need_grad)
        # y * a+ * pos + (1 - y) * neg: lerp is exact at y = 0 and y = 1
        loss = torch.lerp(loss, loss_pos.mul_(a_pos), target)
        ignored = target == IGNORE_LABEL  # exact zeros there, whatever the logit
        loss.masked_fill_(ignored, 0)
        if need_grad:
            grad = torch.lerp(grad, grad_pos.mul_(a_pos), target).masked_fill_(ignored, 0)
        return loss, grad
    if logits.shape[1] == 0:  # every row is background
        return loss, grad
    # the labelled element of each row (column 0 stands in for a background row, which keeps
    # its negative term): gather and scatter, no nonzero(), whose data-dependent size would
    # break a compiled graph
    labelled = target < logits.shape[1]
    cols = torch.where(labelled, target, 0).long().unsqueeze(1)  # int8/int16/uint8 indices too
    loss_pos, grad_pos = positive_terms(logits.gather(1, cols), gamma_pos, detach_focal_weight,
                                        need_grad)
    labelled = labelled.unsqueeze(1)
    loss.scatter_(1, cols, torch.where(labelled, loss_pos.mul_(a_pos), loss.gather(1, cols)))
    if need_grad:
        grad.scatter_(1, cols, torch.where(labelled, grad_pos.mul_(a_pos), grad.gather(1, cols)))
    return loss, grad


def prob_sums_from_probs(probs: Tensor, target: Tensor, weight: Optional[Tensor]) -> Tensor:
    """The weighted sums of the probability analysis (Eq. 9-10) from ``p = sigmoid(z)``.

    With ``w`` the weights (1 where None) and ``y`` the labels (for class indices: 1 at the
    labelled element of a row, 0 elsewhere, and 0 everywhere in a background row):
    ``[sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]``, so that
    ``p_t+ = s[0] / s[1]`` and ``p_t- = s[2] / s[3]``. Elements of weight 0 and ignored
    elements (label -1) drop out.

    Args:
        probs (Tensor): probabilities ``p`` of shape (N, C).
        target (Tensor): class indices of shape (N,) in [0, C] (C is background), or labels
            of shape (N, C) in [0, 1] (-1: ignored) in the dtype of ``probs``.
        weight (Tensor, optional): weights of shape (N, 1) or (N, C) in the dtype of
            ``probs``.

    Returns:
        Tensor: the four sums, shape (4,), in the dtype of ``probs``.
    """
    q = torch.rsub(probs, 1)
    if target.dtype.is_floating_point:
        known = (target != IGNORE_LABEL).to(probs.dtype)
        weight = known if weight is None else weight * known
        pos_weight = target.clamp(min=0) * weight
        neg_weight = weight - pos_weight
        return torch.stack([(pos_weight * probs).sum(), pos_weight.sum(),
                            (neg_weight * q).sum(), neg_weight.sum()])
    rows = (target < probs.shape[1]).nonzero().squeeze(1)
    cols = target[rows].long()
    p_pos, q_pos = probs[rows, cols], q[rows, cols]
    if weight is None:
        pos_weight = torch.ones_like(q_pos)
        all_weight = probs.new_tensor(float(probs.numel()))
        all_neg_prob = q.sum()
    else:
        pos_weight = weight[rows, cols if weight.shape[1] > 1 else 0]
        all_weight = weight.expand_as(probs).sum()
        all_neg_prob = (weight * q).sum()
    pos_weight_sum = pos_weight.sum()
    # every element but the labelled ones is a negative
    return torch.stack([(pos_weight * p_pos).sum(), pos_weight_sum,
                        all_neg_prob - (pos_weight * q_pos).sum(),
                        all_weight - pos_weight_sum])


DOUBLE_BACKWARD_MESSAGE = ('ASL computes its gradient in closed form; double backward is not '
                           'supported (create_graph=True, torch.autograd.functional.hessian, '
                           'gradgradcheck)')


def check_first_order() -> None:
    """Raise in a backward pass that builds a graph (``create_graph=True``): the closed-form
    gradient has no graph of its own, so a second derivative through it would be silently 0."""
    if torch.is_grad_enabled() and not compat.is_compiling():
        raise RuntimeError(DOUBLE_BACKWARD_MESSAGE)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Math runs in float32 for every floating dtype but float64."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class AsymmetricLossRefFunction(torch.autograd.Function):
    """Reduced (or element-wise) Asymmetric Loss with its gradient computed in forward.

    Inputs are already validated and normalised by
    :func:`asl_mmdet.ops.contract.make_asymmetric_loss`.
    """

    @staticmethod
    def forward(ctx, pred: Tensor, target: Tensor, weight: Optional[Tensor],
                gamma_pos: float, gamma_neg: float, clip: float, alpha: Optional[float],
                detach_focal_weight: bool, reduce: bool, scale: float,
                prob_sums: bool = False,
                class_weight: Optional[Tensor] = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        """See :func:`asl_mmdet.ops.asymmetric_loss`.

        Args:
            pred (Tensor): logits of shape (N, C).
            target (Tensor): class indices of shape (N,) in [0, C] (C is background) or
                labels of shape (N, C) in [0, 1], -1 for an ignored element.
            weight (Tensor, optional): weights of shape (N, 1) or (N, C).
            reduce (bool): return ``scale * sum(loss)`` if True, else ``scale * loss``.
            scale (float): ``loss_weight`` over the reduction's denominator.
            prob_sums (bool): also return the (4,) sums of :func:`prob_sums_from_probs`
                (not differentiable), from the probabilities the loss computes.
            class_weight (Tensor, optional): a weight per class (column), shape (C,),
                multiplied on top of ``weight``.
        """
        dtype = compute_dtype(pred.dtype)
        z = pred.to(dtype)
        if target.dtype.is_floating_point:
            target = target.to(dtype)
        if weight is not None:
            weight = weight.to(dtype)
        if class_weight is not None:
            class_weight = class_weight.to(dtype)
        need_grad = ctx.needs_input_grad[0]
        probs = sums = None
        if prob_sums:
            probs = torch.sigmoid(z)
            all_weight = weight
            if class_weight is not None:
                all_weight = (class_weight.expand_as(z) if weight is None
                              else weight * class_weight)
            sums = prob_sums_from_probs(probs, target, all_weight)
        loss, grad = asl_loss_and_grad(z, target, gamma_pos, gamma_neg, clip, alpha,
                                       detach_focal_weight, need_grad, probs)
        for factor in (weight, class_weight):  # class_weight (C,) broadcasts over rows
            if factor is not None:
                loss.mul_(factor)
                if need_grad:
                    grad.mul_(factor)
        # a reduced loss stays in float32 (float64): the caller may still divide it by a
        # tensor avg_factor, and a float16 sum could overflow before that division
        out = loss.sum() if reduce else loss
        if scale != 1:
            out = out.mul_(scale)
            if need_grad:
                grad.mul_(scale)
        if need_grad:
            ctx.save_for_backward(grad.to(pred.dtype))
        if not reduce:
            out = out.to(pred.dtype)
        if not prob_sums:
            return out
        ctx.mark_non_differentiable(sums)
        return out, sums

    @staticmethod
    def backward(ctx, grad_output: Tensor, *unused):
        check_first_order()
        (grad, ) = ctx.saved_tensors
        nones = (None, ) * (len(ctx.needs_input_grad) - 1)  # every argument but pred
        # a grad_output of 1 (an unscaled loss) skips the product; read on the host, so not
        # when traced (a data-dependent branch breaks a full graph)
        if (not compat.is_compiling() and grad_output.numel() == 1
                and grad_output.item() == 1):
            return (grad, ) + nones
        return (grad * grad_output, ) + nones


asymmetric_loss_ref = make_asymmetric_loss(
    AsymmetricLossRefFunction, checks_labels=False, name='asymmetric_loss_ref',
    doc=""":func:`asl_mmdet.ops.asymmetric_loss` through the reference, whatever the device
    and ``ASL_MMDET_IMPL`` (the fused kernel's oracle). Same arguments and result.""")
