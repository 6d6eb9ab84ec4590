"""Adaptive asymmetry (ASL paper Sec. 2.7, Eq. 11): steer gamma_- to a target probability gap."""
import logging
import math
import numbers
from typing import Optional

from mmengine.logging import print_log
from mmengine.registry import HOOKS

from asl_mmdet.models.losses import ASLoss
from asl_mmdet.ops.contract import check_number

from .asl_probability_hook import ASLProbabilityHook

__all__ = ['AdaptiveAsymmetryHook', 'CHECKPOINT_KEY']

CHECKPOINT_KEY = 'asl_adaptive_asymmetry'


@HOOKS.register_module()
class AdaptiveAsymmetryHook(ASLProbabilityHook):
    r"""Adapt :math:`\gamma_-` of every ASLoss after each batch towards a probability gap.

    After each training iteration, with :math:`\Delta p` the probability gap of that batch
    (Eq. 10, as :class:`ASLProbabilityHook` measures it, summed over all ranks):

    .. math::
        \gamma_- \leftarrow \max(0, \gamma_- + \lambda (\Delta p_{target} - \Delta p)),
        \quad \lambda > 0

    **The sign differs from Eq. 11 as printed**,
    :math:`\gamma_- \leftarrow \gamma_- + \lambda(\Delta p - \Delta p_{target})`. A larger
    :math:`\gamma_-` down-weights the negatives, so the network grows more confident on the
    positives and :math:`\Delta p` rises; the paper's Table 3 accordingly ends at a larger
    :math:`\gamma_-` for a larger :math:`\Delta p_{target}` (0: 1.2, 0.1: 3.3, 0.2: 5.2,
    0.3: 6.2). With :math:`\lambda > 0` the printed update lowers :math:`\gamma_-` while
    :math:`\Delta p` is below the target, which moves :math:`\Delta p` further away; the
    update above (Eq. 11 with step :math:`-\lambda`) converges. A batch without positives or
    negatives has no gap and leaves :math:`\gamma_-` unchanged.

    The sums behind :math:`\Delta p` (not the ratios) are all-reduced, so every rank computes
    the same :math:`\Delta p` and the same :math:`\gamma_-`. The current :math:`\gamma_-` is
    saved in each checkpoint (under ``'asl_adaptive_asymmetry'``) and restored when a
    checkpoint is loaded, so ``tools/train.py --resume`` continues the same trajectory; the
    config's ``gamma_neg`` is the starting value. The hook also logs what
    :class:`ASLProbabilityHook` logs, every iteration, with ``train/asl_gamma_neg`` the value
    used in that iteration; use it instead of that hook, not with it.

    Example (the paper: :math:`\Delta p_{target}` of 0.1 to 0.2 gave the best mAP)::

        custom_hooks = [dict(type='AdaptiveAsymmetryHook', target_gap=0.1, step=1e-3)]

    Args:
        target_gap (float): :math:`\Delta p_{target}`, in [-1, 1].
        step (float): :math:`\lambda > 0`, the change of :math:`\gamma_-` per batch and per
            unit of gap error.
        max_gamma_neg (float, optional): an upper bound of :math:`\gamma_-` (>= 0); None for
            none (the paper's rule).
    """

    def __init__(self, target_gap: float = 0.1, step: float = 1e-3,
                 max_gamma_neg: Optional[float] = None) -> None:
        super().__init__(interval=1)
        check_number('target_gap', target_gap, -1.0, 1.0)
        check_number('step', step, 0.0)
        if step <= 0:
            raise ValueError(f'step must be > 0 (the update converges for a positive step: see '
                             f'the docstring), got {step!r}')
        if max_gamma_neg is not None:
            check_number('max_gamma_neg', max_gamma_neg, 0.0)
        self.target_gap = float(target_gap)
        self.step = float(step)
        self.max_gamma_neg = None if max_gamma_neg is None else float(max_gamma_neg)
        self.gamma_neg: Optional[float] = None

    def next_gamma_neg(self, gamma_neg: float, delta_p: float) -> float:
        """The update: ``max(0, gamma_neg + step * (target_gap - delta_p))``, capped at
        ``max_gamma_neg``; ``gamma_neg`` unchanged if ``delta_p`` is NaN (no gap)."""
        if math.isnan(delta_p):
            return gamma_neg
        value = max(0.0, gamma_neg + self.step * (self.target_gap - delta_p))
        return value if self.max_gamma_neg is None else min(value, self.max_gamma_neg)

    def _track_from(self, model):
        return [module for module in model.modules() if isinstance(module, ASLoss)]

    def _reads(self, runner) -> bool:
        return True

    def _apply(self) -> None:
        for loss in self._losses:
            loss.gamma_neg = self.gamma_neg

    def _capped(self, gamma_neg: float, source: str) -> float:
        """``gamma_neg`` within ``max_gamma_neg``, with a warning naming ``source`` where it was
        above (a resumed run whose config lowered the bound, say)."""
        if self.max_gamma_neg is None or gamma_neg <= self.max_gamma_neg:
            return gamma_neg
        print_log(f'AdaptiveAsymmetryHook: gamma_neg {gamma_neg} from {source} is above '
                  f'max_gamma_neg={self.max_gamma_neg}; starting at {self.max_gamma_neg}',
                  logger='current', level=logging.WARNING)
        return self.max_gamma_neg

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if self.gamma_neg is None:  # not restored from a checkpoint: the config's value
            values = sorted({float(loss.gamma_neg) for loss in self._losses})
            if len(values) > 1:
                raise ValueError(f'AdaptiveAsymmetryHook adapts one gamma_neg for every ASLoss '
                                 f'of the model; they start at different values {values}')
            self.gamma_neg = self._capped(values[0], "the config's ASLoss")
        self._apply()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        delta_p = self._log(runner, self.collect_prob_sums(), self.gamma_neg)
        self.gamma_neg = self.next_gamma_neg(self.gamma_neg, delta_p)
        self._apply()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.gamma_neg is not None:
            checkpoint[CHECKPOINT_KEY] = dict(gamma_neg=self.gamma_neg)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        name = _checkpoint_name(runner, checkpoint)
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:
            print_log(f'AdaptiveAsymmetryHook: {name} holds no {CHECKPOINT_KEY!r} state (saved '
                      f'without this hook?): gamma_neg starts from the config\'s value',
                      logger='current', level=logging.WARNING)
            return
        value = state.get('gamma_neg') if isinstance(state, dict) else None
        if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                or not math.isfinite(value) or value < 0):
            raise ValueError(f'{name}: {CHECKPOINT_KEY!r} must be a dict with a finite '
                             f'gamma_neg >= 0, got {state!r}')
        self.gamma_neg = self._capped(float(value), name)
        self._apply()


def _checkpoint_name(runner, checkpoint: dict) -> str:
    """The loaded checkpoint's path where the runner knows it, else its iteration."""
    path = getattr(runner, '_load_from', None)
    if path is None and getattr(runner, '_resume', False):
        from mmengine.runner import find_latest_checkpoint
        path = find_latest_checkpoint(runner.work_dir)
    if path is not None:
        return f'checkpoint {path!r}'
    meta = checkpoint.get('meta') or {}
    return f"the checkpoint of iteration {meta['iter']}" if 'iter' in meta else 'the checkpoint'
