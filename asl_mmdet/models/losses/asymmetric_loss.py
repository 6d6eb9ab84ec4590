"""The Asymmetric Loss as an MMDetection (and mmpretrain) loss module."""
from typing import Optional, Sequence, Union

import torch.nn as nn
from torch import Tensor

from asl_mmdet.ops import asymmetric_loss, check_asl_params
from asl_mmdet.ops.contract import DEFAULT_EPS, check_class_weight
from .registry import check_reduction_override, register_loss

__all__ = ['ASLoss']


@register_loss
class ASLoss(nn.Module):
    r"""Asymmetric Loss (ASL), Ridnik et al., "Asymmetric Loss For Multi-Label
    Classification", ICCV 2021.

    For a logit :math:`z`, :math:`p = \sigma(z)` and the shifted probability
    :math:`p_m = \max(p - m, 0)` (Eq. 5), the loss of one element with label :math:`y` is
    (Eq. 7)

    .. math::
        L_+ = (1 - p)^{\gamma_+} \log(p), \quad
        L_- = p_m^{\gamma_-} \log(1 - p_m), \quad
        \mathcal{L} = -y L_+ - (1 - y) L_-

    and its gradient for negatives is Eq. 8:
    :math:`p_m^{\gamma_-} [\frac{1}{1 - p_m} - \frac{\gamma_- \log(1 - p_m)}{p_m}] p (1 - p)`.
    With ``alpha``, positives are weighted by :math:`\alpha` and negatives by
    :math:`1 - \alpha`, so ``gamma_pos=gamma_neg=2, clip=0, alpha=0.25`` is exactly
    MMDetection's ``FocalLoss`` and ``gamma_pos=gamma_neg=0, clip=0`` is BCE with logits.
    The element losses are multiplied by ``weight`` and, per column, by ``class_weight``.

    Unknown labels: in dense (N, C) targets a label of -1 marks an element whose label is
    unknown. It adds no loss and no gradient and is left out of the probability sums: the loss
    equals the loss with that label set to 0 and its weight to 0. The reduction does not change:
    ``'mean'`` without ``avg_factor`` still divides by N * C, and ``avg_factor`` is used as given.

    Probability analysis (Sec. 2.6): with ``track_prob_stats = True`` every forward call
    also adds the four weighted sums of :mod:`asl_mmdet.ops.probability_analysis` (``p_t+``,
    ``p_t-`` and ``Delta p`` of Eq. 9-10 are their ratios) to a detached device tensor, from
    the probabilities the loss computes anyway and with no host synchronisation;
    :meth:`pop_prob_sums` returns and clears it. A detection head calls its loss once per FPN
    level, so the sums of a training iteration cover every level. The hooks of
    :mod:`asl_mmdet.engine.hooks` switch it on.

    The defaults are the paper's best MS-COCO multi-label setting (Table 2:
    :math:`\gamma_+ = 0, \gamma_- = 4, m = 0.05`, 86.6 mAP) with no static weight.
    The name differs from mmpretrain's ``AsymmetricLoss`` so that a config naming
    ``ASLoss`` always builds this class, in MMDetection's and mmpretrain's scopes alike (it is
    registered in both ``MODELS`` registries).

    Args:
        gamma_pos (float): focusing parameter of positives :math:`\gamma_+` (>= 0).
        gamma_neg (float): focusing parameter of negatives :math:`\gamma_-` (>= 0).
        clip (float, optional): probability margin :math:`m` in [0, 1); None or 0 disables
            probability shifting.
        eps (float): added to ``avg_factor`` in the ``'mean'`` reduction (> 0).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): factor applied to the loss.
        use_sigmoid (bool): must be True; dense heads read it to size their classifier
            (C outputs, no background column).
        alpha (float, optional): static weight of positives in [0, 1]; None (the paper's
            choice) weights both sides by 1.
        detach_focal_weight (bool): False (default) back-propagates the full gradient of
            Eq. 8; True treats the focusing weights as constants, like the official
            implementation's ``disable_torch_grad_focal_loss=True`` used by its
            training script.
        class_weight (list[float] | tuple[float], optional): one weight per class (finite,
            >= 0), multiplied on top of ``weight`` (MMDetection's
            ``CrossEntropyLoss(class_weight=...)`` convention). Its length must equal C, the
            number of logits per row (checked at forward time); the background index C of
            class-index targets has no column. None weights every class by 1. It weights
            both terms of Eq. 7 (like ``CrossEntropyLoss``'s softmax path, where it is
            ``F.cross_entropy``'s ``weight``), not only the positive one as MMDetection's
            sigmoid ``CrossEntropyLoss`` does by passing it as BCE's ``pos_weight``.
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 clip: Optional[float] = 0.05,
                 eps: float = DEFAULT_EPS,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 use_sigmoid: bool = True,
                 alpha: Optional[float] = None,
                 detach_focal_weight: bool = False,
                 class_weight: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError(f'ASLoss is a sigmoid loss: use_sigmoid must be True, '
                             f'got {use_sigmoid!r}')
        check_asl_params(gamma_pos, gamma_neg, clip, alpha, eps, reduction, loss_weight,
                         detach_focal_weight)
        check_class_weight(class_weight)
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.clip = clip
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.use_sigmoid = use_sigmoid
        self.alpha = alpha
        self.detach_focal_weight = detach_focal_weight
        self.class_weight = None if class_weight is None else tuple(class_weight)
        self.track_prob_stats = False
        self._prob_sums: Optional[Tensor] = None

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            pred (Tensor): logits of shape (N, C).
            target (Tensor): class indices of shape (N,) in [0, C] (C is background), or
                multi-hot / soft labels of shape (N, C) in [0, 1], -1 marking an unknown
                (ignored) element.
            weight (Tensor, optional): weights of shape (N,), (N, 1) or (N, C).
            avg_factor (float | Tensor, optional): divisor of the ``'mean'`` reduction, a
                finite number > 0 (or a one-element tensor holding one).
            reduction_override (str, optional): overrides ``self.reduction``.

        Returns:
            Tensor: the loss, a scalar unless the reduction is ``'none'``.

        Raises:
            TypeError: for a ``(labels, scores)`` tuple target, the IoU-quality targets that
                GFL's, RTMDet's and TOOD's heads pass to ``QualityFocalLoss``.
            ValueError: ``class_weight`` does not hold C weights, among the argument checks of
                :func:`asl_mmdet.ops.asymmetric_loss`.
        """
        if isinstance(target, (tuple, list)):
            parts = ', '.join(f'{type(t).__name__} {tuple(getattr(t, "shape", ()))}'
                              for t in target)
            raise TypeError(
                f'{type(self).__name__} takes class indices (N,) or (N, C) labels as target; '
                f'got a {type(target).__name__} ({parts}): the (labels, scores) targets of '
                f'GFLHead, RTMDetHead and TOODHead for QualityFocalLoss, which train the IoU '
                f'quality of each box rather than its label. Keep QualityFocalLoss in these '
                f'heads')
        check_reduction_override(reduction_override)
        if not isinstance(self.track_prob_stats, bool):
            raise TypeError(f'track_prob_stats must be a bool, got {self.track_prob_stats!r}')
        out = asymmetric_loss(
            pred,
            target,
            weight,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            clip=self.clip,
            alpha=self.alpha,
            detach_focal_weight=self.detach_focal_weight,
            reduction=reduction_override or self.reduction,
            avg_factor=avg_factor,
            loss_weight=self.loss_weight,
            eps=self.eps,
            return_prob_sums=self.track_prob_stats,
            class_weight=self.class_weight)
        if not self.track_prob_stats:
            return out
        loss, sums = out
        self._prob_sums = sums if self._prob_sums is None else self._prob_sums + sums
        return loss

    def pop_prob_sums(self) -> Optional[Tensor]:
        """Return the probability sums accumulated since the last call, and clear them.

        Returns:
            Tensor | None: ``[sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]``
            over every forward call with ``track_prob_stats`` on, shape (4,), detached, on
            the device of the logits; None if there was none.
        """
        sums, self._prob_sums = self._prob_sums, None
        return sums

    def extra_repr(self) -> str:
        return (f'gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, clip={self.clip}, '
                f'alpha={self.alpha}, detach_focal_weight={self.detach_focal_weight}, '
                f'reduction={self.reduction!r}, loss_weight={self.loss_weight}, '
                f'class_weight={self.class_weight}')
