"""Independent float64 oracles for the Asymmetric Loss, written from the paper and from the
official implementation, differentiated by autograd. Tests only."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def one_hot(labels: Tensor, num_classes: int) -> Tensor:
    """(N,) class indices in [0, C] (C = background) -> (N, C) float64 labels."""
    return F.one_hot(labels, num_classes + 1)[:, :num_classes].double()


def asl_paper(z: Tensor, y: Tensor, gamma_pos: float, gamma_neg: float, clip: float,
              alpha: Optional[float] = None, detach: bool = False) -> Tensor:
    """Eq. 7 literally: p = sigmoid(z), p_m = max(p - m, 0),
    loss = -y (1 - p)^g+ log(p) - (1 - y) p_m^g- log(1 - p_m)."""
    z, y = z.double(), y.double()
    p = torch.sigmoid(z)
    p_m = (p - clip).clamp(min=0)
    w_pos, w_neg = (1 - p)**gamma_pos, p_m**gamma_neg
    if detach:
        w_pos, w_neg = w_pos.detach(), w_neg.detach()
    a_pos, a_neg = (1.0, 1.0) if alpha is None else (alpha, 1 - alpha)
    return -(y * a_pos * w_pos * torch.log(p) + (1 - y) * a_neg * w_neg * torch.log(1 - p_m))


def asl_official(x: Tensor, y: Tensor, gamma_pos: float, gamma_neg: float, clip: float,
                 eps: float = 1e-8, detach: bool = False) -> Tensor:
    """The official repository's AsymmetricLoss math (element-wise, not summed): the margin is
    ``(1 - p + m).clamp(max=1)`` and the focusing weight ``(1 - pt)^gamma``."""
    x, y = x.double(), y.double()
    xs_pos = torch.sigmoid(x)
    xs_neg = 1 - xs_pos
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.set_grad_enabled(not detach):
            pt = xs_pos * y + xs_neg * (1 - y)
            one_sided_w = torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
        loss = loss * one_sided_w
    return -loss


def probability_sums_f64(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None) -> Tensor:
    """The probability analysis' sums (paper Sec. 2.6) in float64, on the CPU:
    ``[sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]`` for (N,) class indices
    (C = background) or (N, C) labels, with (N,), (N, 1) or (N, C) weights."""
    n, c = pred.shape
    p = torch.sigmoid(pred.detach().double().cpu())
    y = target.double().cpu() if target.dtype.is_floating_point else one_hot(target.cpu(), c)
    w = torch.ones(n, c, dtype=torch.float64)
    if weight is not None:
        w = w * weight.detach().double().cpu().reshape(n, -1)
    return torch.stack([(w * y * p).sum(), (w * y).sum(), (w * (1 - y) * (1 - p)).sum(),
                        (w * (1 - y)).sum()])


def reduce_like_mmdet(loss: Tensor, weight: Optional[Tensor], reduction: str,
                      avg_factor=None, eps: float = torch.finfo(torch.float32).eps) -> Tensor:
    """MMDetection's ``weight_reduce_loss`` on an (N, C) loss with (N,), (N, 1) or (N, C)
    weights."""
    if weight is not None:
        loss = loss * (weight.double().view(-1, 1) if weight.dim() == 1 else weight.double())
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    return loss.mean() if avg_factor is None else loss.sum() / (avg_factor + eps)


def asl_single_label_official(x: Tensor, targets: Tensor, gamma_pos: float, gamma_neg: float,
                              eps: float) -> Tensor:
    """The official repository's ``ASLSingleLabel`` math, per sample (not reduced): ``targets``
    is the (N, C) one-hot (or soft) label tensor, used as written in place of the scattered
    one-hot."""
    x, targets = x.double(), targets.double()
    num_classes = x.shape[-1]
    log_preds = torch.log_softmax(x, dim=-1)
    anti_targets = 1 - targets
    xs_pos = torch.exp(log_preds)
    xs_neg = 1 - xs_pos
    xs_pos = xs_pos * targets
    xs_neg = xs_neg * anti_targets
    asymmetric_w = torch.pow(1 - xs_pos - xs_neg,
                             gamma_pos * targets + gamma_neg * anti_targets)
    log_preds = log_preds * asymmetric_w
    targets_classes = targets.mul(1 - eps).add(eps / num_classes)
    return -targets_classes.mul(log_preds).sum(dim=-1)
