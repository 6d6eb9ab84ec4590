"""MMDetection's focal loss computed by the Asymmetric Loss' dispatch (the fused kernel on CUDA)."""
from typing import Optional, Union

from torch import Tensor

from asl_mmdet.ops.contract import check_number
from .asymmetric_loss import ASLoss
from .registry import register_loss

__all__ = ['FusedFocalLoss']


@register_loss
class FusedFocalLoss(ASLoss):
    r"""Focal loss, Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017: MMDetection's
    ``FocalLoss`` with the same arguments, defaults and forward contract, so that
    ``type='FocalLoss'`` -> ``type='FusedFocalLoss'`` is the whole change in a config.

    For a logit :math:`z`, :math:`p = \sigma(z)`, :math:`p_t = p` for a positive and
    :math:`1 - p` for a negative, :math:`\alpha_t = \alpha` for a positive and
    :math:`1 - \alpha` for a negative, the loss of one element is (Eq. 5)

    .. math::
        \mathrm{FL}(p_t) = -\alpha_t (1 - p_t)^{\gamma} \log(p_t),

    which is the Asymmetric Loss with :math:`\gamma_+ = \gamma_- = \gamma`, no margin and
    ``alpha``: ``ASLoss(gamma_pos=gamma, gamma_neg=gamma, clip=0, alpha=alpha)``, computed by
    the same dispatch (:func:`asl_mmdet.ops.asymmetric_loss`). For CUDA float32, float16 and
    bfloat16 logits that is the fused Triton kernel (math in float32; a registered op under
    ``torch.compile``), where MMDetection's ``FocalLoss`` calls mmcv's ``sigmoid_focal_loss``,
    which has no bfloat16 CUDA kernel and which Dynamo can not trace; elsewhere the
    plain-PyTorch reference.

    Targets are those ``FocalLoss`` takes: class indices (N,) in [0, C] (C is background, as
    dense heads pass them), or (N, C) 0 / 1 labels of any dtype (mmpretrain's multi-label
    heads). Soft labels in (0, 1) give ASLoss's interpolation of the two terms,
    :math:`-y \alpha (1 - p)^{\gamma} \log p - (1 - y) (1 - \alpha) p^{\gamma} \log(1 - p)`,
    not MMDetection's ``py_sigmoid_focal_loss``, whose focusing and alpha weights mix both
    labels; a label of -1 is ignored as in ASLoss. Weights may be (N,), (N, 1), (N, C) or,
    like ``FocalLoss`` (FSAF), (N * C,) flattened.

    Being an :class:`ASLoss`, the loss is tracked by
    :class:`~asl_mmdet.engine.hooks.ASLProbabilityHook` with :math:`\gamma_- = \gamma`.

    Args:
        use_sigmoid (bool): must be True (as ``FocalLoss`` requires).
        gamma (float): focusing parameter :math:`\gamma` (>= 0).
        alpha (float): weight of positives :math:`\alpha` in [0, 1]; negatives get
            :math:`1 - \alpha`.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): factor applied to the loss.
        activated (bool): must be False: the loss takes logits. For probabilities, keep
            MMDetection's ``FocalLoss(activated=True)``.
    """

    def __init__(self,
                 use_sigmoid: bool = True,
                 gamma: float = 2.0,
                 alpha: float = 0.25,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 activated: bool = False) -> None:
        if use_sigmoid is not True:
            raise ValueError(f'FusedFocalLoss is a sigmoid focal loss (as FocalLoss): '
                             f'use_sigmoid must be True, got {use_sigmoid!r}')
        if activated is not False:
            raise ValueError(f'FusedFocalLoss takes logits: activated must be False, got '
                             f'{activated!r}; for probabilities keep MMDetection\'s '
                             f'FocalLoss(activated=True)')
        check_number('gamma', gamma, 0)
        check_number('alpha', alpha, 0, 1)
        super().__init__(gamma_pos=gamma, gamma_neg=gamma, clip=0.0, reduction=reduction,
                         loss_weight=loss_weight, use_sigmoid=use_sigmoid, alpha=alpha)
        self.activated = activated

    @property
    def gamma(self) -> float:
        """The focusing parameter :math:`\\gamma` (``gamma_pos``, equal to ``gamma_neg``
        unless a hook adapted the latter)."""
        return self.gamma_pos

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
                labels of shape (N, C) (0 / 1, any dtype).
            weight (Tensor, optional): weights of shape (N,), (N, 1), (N, C) or (N * C,).
            avg_factor (float | Tensor, optional): divisor of the ``'mean'`` reduction
                (``sum / (avg_factor + eps)``).
            reduction_override (str, optional): overrides ``self.reduction``.

        Returns:
            Tensor: the loss, a scalar unless the reduction is ``'none'`` ((N, C) then).
        """
        if (isinstance(pred, Tensor) and isinstance(target, Tensor)
                and not target.dtype.is_floating_point and target.dim() == pred.dim() == 2):
            target = target.to(pred.dtype)  # integer one-hot labels, as FocalLoss's type_as
        if (isinstance(pred, Tensor) and isinstance(weight, Tensor) and weight.dim() == 1
                and pred.dim() == 2 and weight.shape[0] != pred.shape[0]
                and weight.numel() == pred.numel()):
            weight = weight.reshape(pred.shape)  # flattened per-element weights (FSAF)
        return super().forward(pred, target, weight, avg_factor, reduction_override)

    def extra_repr(self) -> str:
        return (f'gamma={self.gamma}, alpha={self.alpha}, reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')
