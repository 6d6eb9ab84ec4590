"""The single-label (softmax) Asymmetric Loss as an mmpretrain (and MMDetection) loss module."""
from typing import Optional, Union

import torch.nn as nn
from torch import Tensor

from asl_mmdet.ops import asymmetric_loss_single_label
from asl_mmdet.ops.contract import DEFAULT_EPS, check_number, check_reduction
from .registry import check_reduction_override, register_loss

__all__ = ['ASLSingleLabelLoss']


@register_loss
class ASLSingleLabelLoss(nn.Module):
    r"""Single-label Asymmetric Loss: the softmax form of ASL (Ridnik et al., "Asymmetric Loss
    For Multi-Label Classification", ICCV 2021) that the official repository ships as
    ``ASLSingleLabel`` (and timm as ``AsymmetricLossSingleLabel``), for single-label
    classification heads such as mmpretrain's ``LinearClsHead``.

    For logits :math:`z` of one sample, :math:`p = \operatorname{softmax}(z)`, labels
    :math:`t` (the one-hot vector of a class index, or mixup / cutmix soft labels) and the
    label smoothing :math:`\varepsilon`, the asymmetric focusing of Eq. 4 with softmax
    probabilities gives

    .. math::
        w_c = \bigl(t_c (1 - p_c) + (1 - t_c) p_c\bigr)^{\gamma_+ t_c + \gamma_- (1 - t_c)},
        \quad s_c = (1 - \varepsilon) t_c + \varepsilon / C, \quad
        \mathcal{L} = -\sum_c s_c \, w_c \log p_c,

    i.e. :math:`(1 - p_y)^{\gamma_+}` for the labelled class :math:`y` and
    :math:`p_c^{\gamma_-}` for the others. The focusing weight is differentiated (as in the
    official code and timm). With soft labels the same formula is applied element-wise (the
    official code with a non-one-hot ``targets``), and the smoothing is mmpretrain's
    ``LabelSmoothLoss`` (``mode='original'``) on them. ``gamma_pos=gamma_neg=0`` is
    ``LabelSmoothLoss(label_smooth_val=label_smoothing)`` (``CrossEntropyLoss`` for
    ``label_smoothing=0``). Defaults are the official ones (:math:`\gamma_+ = 0,
    \gamma_- = 4, \varepsilon = 0.1`).

    The name collides with nothing that mmpretrain or MMDetection registers; the class is
    registered in both ``MODELS`` registries.

    Args:
        gamma_pos (float): focusing parameter of the labelled class :math:`\gamma_+` (>= 0).
        gamma_neg (float): focusing parameter of the other classes :math:`\gamma_-` (>= 0).
        label_smoothing (float): :math:`\varepsilon` in [0, 1).
        eps (float): added to ``avg_factor`` in the ``'mean'`` reduction (> 0).
        reduction (str): ``'none'`` (per-sample loss), ``'mean'`` or ``'sum'``.
        loss_weight (float): factor applied to the loss.
    """

    def __init__(self,
                 gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0,
                 label_smoothing: float = 0.1,
                 eps: float = DEFAULT_EPS,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        check_number('gamma_pos', gamma_pos, 0)
        check_number('gamma_neg', gamma_neg, 0)
        check_number('label_smoothing', label_smoothing, 0, 1, high_inclusive=False)
        check_reduction(reduction, loss_weight, eps)
        self.gamma_pos = gamma_pos
        self.gamma_neg = gamma_neg
        self.label_smoothing = label_smoothing
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self,
                cls_score: Tensor,
                label: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Compute the loss (mmpretrain's loss contract).

        Args:
            cls_score (Tensor): logits of shape (N, C).
            label (Tensor): class indices of shape (N,) in [0, C), or soft labels of shape
                (N, C) (``gt_score`` of batch augmentations).
            weight (Tensor, optional): per-sample weights of shape (N,).
            avg_factor (float | Tensor, optional): divisor of the ``'mean'`` reduction, a
                finite number > 0 (or a one-element tensor holding one).
            reduction_override (str, optional): overrides ``self.reduction``.
            **kwargs: accepted for mmpretrain's signature; any given one is an error.

        Returns:
            Tensor: the loss, a scalar unless the reduction is ``'none'`` (then (N,)).
        """
        if kwargs:
            raise TypeError(f'ASLSingleLabelLoss.forward got unexpected keyword arguments '
                            f'{sorted(kwargs)}')
        check_reduction_override(reduction_override)
        return asymmetric_loss_single_label(
            cls_score,
            label,
            weight,
            gamma_pos=self.gamma_pos,
            gamma_neg=self.gamma_neg,
            label_smoothing=self.label_smoothing,
            reduction=reduction_override or self.reduction,
            avg_factor=avg_factor,
            loss_weight=self.loss_weight,
            eps=self.eps)

    def extra_repr(self) -> str:
        return (f'gamma_pos={self.gamma_pos}, gamma_neg={self.gamma_neg}, '
                f'label_smoothing={self.label_smoothing}, reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')
