"""Log the probability analysis of the ASL paper (Sec. 2.6, Eq. 9-10) during training."""
import importlib.util
import math
from typing import List, Optional, Sequence

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from torch import Tensor, nn

from asl_mmdet.models.losses import ASLoss
from asl_mmdet.ops import probability_gap, probability_sums

__all__ = ['ASLProbabilityHook', 'PROB_SCALARS']

# message hub keys; LoggerHook writes them without the 'train/' prefix (scalars.json, TensorBoard)
PROB_SCALARS = dict(p_pos='train/asl_p_pos', p_neg='train/asl_p_neg',
                    delta_p='train/asl_delta_p', gamma_neg='train/asl_gamma_neg')


class _LossTracker:
    """ASLoss's tracking interface (``track_prob_stats``, ``pop_prob_sums``, ``gamma_neg``)
    for the baselines' sigmoid losses (MMDetection's and mmpretrain's ``FocalLoss``,
    mmpretrain's ``CrossEntropyLoss(use_sigmoid=True)``), which do not compute the sums
    themselves: a forward hook computes them from the loss's inputs (an extra pass over the
    logits, for monitoring).

    Args:
        loss (nn.Module): the loss; its first two positional arguments are the scores and the
            targets.
        gamma_neg (float): its focusing parameter (focal loss is ASL with
            ``gamma_+ = gamma_- = gamma`` and no margin; BCE has 0).
        activated (bool): whether the scores are probabilities already.
    """

    def __init__(self, loss: nn.Module, gamma_neg: float, activated: bool = False) -> None:
        self.loss = loss
        self.gamma_neg = float(gamma_neg)
        self.activated = activated
        self.track_prob_stats = False
        self._prob_sums: Optional[Tensor] = None
        self._handle = loss.register_forward_hook(self._accumulate, with_kwargs=True)

    def _accumulate(self, module: nn.Module, args: tuple, kwargs: dict, output) -> None:
        if not self.track_prob_stats:
            return
        names = ('pred', 'target', 'weight')
        values = dict(zip(names, args), **{k: v for k, v in kwargs.items() if k in names})
        pred, target = values['pred'], values['target']
        if not target.dtype.is_floating_point and target.shape == pred.shape:
            target = target.to(pred.dtype)  # one-hot labels
        sums = probability_sums(pred.detach(), target, values.get('weight'),
                                activated=self.activated)
        self._prob_sums = sums if self._prob_sums is None else self._prob_sums + sums

    def pop_prob_sums(self) -> Optional[Tensor]:
        sums, self._prob_sums = self._prob_sums, None
        return sums

    def remove(self) -> None:
        self._handle.remove()


@HOOKS.register_module()
class ASLProbabilityHook(Hook):
    r"""Log :math:`p_t^+`, :math:`p_t^-` and the probability gap :math:`\Delta p` (Eq. 9-10).

    :math:`p_t^+` is the mean probability of the positive elements of a training batch,
    :math:`p_t^-` the mean of :math:`1 - p` over its negatives and
    :math:`\Delta p = p_t^+ - p_t^-`. With class-index targets (dense detection heads) the
    labelled element of a row is its positive and every other element a negative; elements of
    weight 0 (ignored anchors) drop out. The means are ratios of weighted sums that the loss
    computes in its own pass (see :mod:`asl_mmdet.ops.probability_analysis`), added over every
    call of an iteration (the FPN levels) and over every tracked loss, then summed over
    distributed ranks, so the logged values are those of the whole global batch. A DETR head
    (DINO, Deformable DETR) calls its loss for every decoder layer, the encoder's proposals
    and DINO's denoising queries, so the means pool all of them; an unmatched query is a row of
    background (class index C), a negative in every class.

    The hook tracks every :class:`~asl_mmdet.models.losses.ASLoss` of the model (DDP-wrapped
    or not) and, to compare with the baselines, every focal loss (MMDetection's, mmpretrain's)
    and mmpretrain sigmoid ``CrossEntropyLoss`` (from a forward hook on its inputs: an extra
    pass over the logits, monitoring only). Every
    ``interval`` iterations it puts into ``runner.message_hub``:

    - ``train/asl_p_pos``: :math:`p_t^+`;
    - ``train/asl_p_neg``: :math:`p_t^-`;
    - ``train/asl_delta_p``: :math:`\Delta p`;
    - ``train/asl_gamma_neg``: :math:`\gamma_-` of the first tracked loss during that
      iteration (``gamma`` for focal loss).

    MMEngine's ``LoggerHook`` writes them, without the ``train/`` prefix, to the text log and
    the visualizer backends (``<work_dir>/<timestamp>/vis_data/scalars.json``, TensorBoard if
    enabled); keep ``interval`` a divisor of the logger's interval. A batch with no positive
    (or no negative) element has no :math:`p_t^+` (:math:`p_t^-`), and it is not logged.
    The loss computes the sums only in the iterations the hook reads them.

    Example::

        custom_hooks = [dict(type='ASLProbabilityHook', interval=1)]

    Args:
        interval (int): log every ``interval`` training iterations (>= 1).
    """

    priority = 'NORMAL'  # before LoggerHook (BELOW_NORMAL) reads the message hub

    def __init__(self, interval: int = 1) -> None:
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f'interval must be an int >= 1, got {interval!r}')
        self.interval = interval
        self._losses: List = []

    def _track_from(self, model: nn.Module) -> list:
        """The model's losses to track: ASLoss modules, and trackers of the baselines' sigmoid
        losses (focal loss, mmpretrain's sigmoid cross-entropy)."""
        from mmdet.models.losses import FocalLoss
        baselines = [(FocalLoss, lambda m: _LossTracker(m, m.gamma, bool(m.activated)))]
        if importlib.util.find_spec('mmpretrain') is not None:
            from mmpretrain.models.losses import CrossEntropyLoss
            from mmpretrain.models.losses import FocalLoss as PretrainFocalLoss
            baselines += [
                (PretrainFocalLoss, lambda m: _LossTracker(m, m.gamma)),
                (CrossEntropyLoss, lambda m: _LossTracker(m, 0.0) if m.use_sigmoid else None),
            ]
        losses = []
        for module in model.modules():
            if isinstance(module, ASLoss):
                losses.append(module)
                continue
            tracker = next((make(module) for cls, make in baselines
                            if isinstance(module, cls)), None)
            if tracker is not None:
                losses.append(tracker)
        return losses

    def _reads(self, runner) -> bool:
        return self.every_n_train_iters(runner, self.interval)

    def before_train(self, runner) -> None:
        others = [type(hook).__name__ for hook in runner.hooks
                  if isinstance(hook, ASLProbabilityHook) and hook is not self]
        if others:
            raise ValueError(f'{type(self).__name__} can not share a model with '
                             f'{", ".join(others)}: each reads and clears the losses\' sums '
                             f'(AdaptiveAsymmetryHook logs the same scalars)')
        self._losses = self._track_from(runner.model)
        if not self._losses:
            raise ValueError(f'{type(self).__name__} found no loss to track in the model '
                             f'{type(runner.model).__name__}: it tracks ASLoss (and '
                             f'focal loss and sigmoid cross-entropy for the probability log)')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        reads = self._reads(runner)
        for loss in self._losses:
            loss.track_prob_stats = reads
            loss.pop_prob_sums()  # anything from outside a training iteration

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._reads(runner):
            self._log(runner, self.collect_prob_sums(), self._losses[0].gamma_neg)

    def after_train(self, runner) -> None:
        for loss in self._losses:
            loss.track_prob_stats = False
            loss.pop_prob_sums()
            if isinstance(loss, _LossTracker):
                loss.remove()
        self._losses = []

    def collect_prob_sums(self) -> List[float]:
        """Pop the sums of every tracked loss, add them up and sum them over ranks.

        Every rank must call it in the same iterations (an all-reduce when distributed).

        Returns:
            list[float]: ``[sum(w y p), sum(w y), sum(w (1 - y) (1 - p)), sum(w (1 - y))]``
            of the global batch, the same on every rank.
        """
        popped: Sequence[Tensor] = [s for s in (loss.pop_prob_sums() for loss in self._losses)
                                    if s is not None]
        total = (torch.stack([s.double() for s in popped]).sum(0) if popped
                 else torch.zeros(4, dtype=torch.float64))
        all_reduce(total, op='sum')  # no-op unless distributed
        return total.tolist()

    @staticmethod
    def _log(runner, sums: List[float], gamma_neg: float) -> float:
        """Put p_t+, p_t-, Delta p (those defined) and gamma_- into the message hub; return
        Delta p (NaN if undefined)."""
        values = dict(zip(('p_pos', 'p_neg', 'delta_p'), (
            value.item() for value in probability_gap(torch.tensor(sums, dtype=torch.float64)))))
        values['gamma_neg'] = float(gamma_neg)
        for name, value in values.items():
            if not math.isnan(value):
                runner.message_hub.update_scalar(PROB_SCALARS[name], value)
        return values['delta_p']
