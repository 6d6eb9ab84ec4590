"""The verdict rule of tools/compare.py: when a difference between two configs is a statement
about their losses.

A config trained once gives one trained model: the paired bootstrap over the validation images
(:func:`~asl_mmdet.analysis.bootstrap.paired_interval`) then measures how much the two models'
difference would move on other images, not how much it would move with another training seed
(a float-level difference amplified by training: what separates two configs of the same loss).
So :func:`paired_difference` gives one seed no verdict. Several seeds of both configs, paired
by seed (the same initial weights and batches), give K per-seed differences ``d_k`` of the
metric on the full validation set; they are independent draws of the training noise, and the
interval is Student's t with K - 1 degrees of freedom::

    mean(d) +- t_{(1 + confidence) / 2, K - 1} * std(d, ddof=1) / sqrt(K)

(exact for normal ``d_k``, calibrated by simulation in tests/test_analysis/test_verdict.py; a
bootstrap over K = 3 seeds would not cover: it cannot draw more than 3 values). It holds the
training noise on these validation images; the images themselves are not resampled.
"""
import math
from typing import Optional, Sequence

import numpy as np
from scipy.stats import t as student_t

from .bootstrap import Interval, check_confidence, paired_differences, paired_interval

__all__ = ['BETTER', 'WORSE', 'NO_DIFFERENCE', 'ONE_SEED', 'DESCRIPTIVE', 'seed_interval',
           'paired_difference', 'verdict_of']

BETTER, WORSE, NO_DIFFERENCE = 'better', 'worse', 'no difference at this sample size'
ONE_SEED = 'none: one seed, training noise not measured'
DESCRIPTIVE = 'descriptive, no verdict'


def seed_interval(values_a: Sequence[float], values_b: Sequence[float],
                  confidence: float = 0.95) -> Interval:
    """The mean of the per-seed differences ``a_k - b_k`` and its Student-t interval.

    Args:
        values_a (Sequence[float]): (K,) config a's metric on the full validation set, one
            value per seed; a negative value (pycocotools' -1: no ground truth for the metric)
            leaves its seed out.
        values_b (Sequence[float]): (K,) config b's, the same seeds in the same order.
        confidence (float): the interval's coverage, in (0, 1).

    Returns:
        Interval: ``seeds`` is the number of seeds kept; with fewer than 2 the bounds are nan,
        with equal nonzero differences infinite (their spread, the training noise, is 0 only
        because the metric moves in steps).
    """
    check_confidence(confidence)
    d = paired_differences(values_a, values_b, 'values_a and values_b', 'K')
    if len(d) < 2:
        difference = float(d.mean()) if len(d) else float('nan')
        return Interval(difference, float('nan'), float('nan'), resamples=0, seeds=len(d))
    spread = d.std(ddof=1)
    if spread == 0 and d[0] != 0:
        # equal, nonzero differences (a metric on few images moves in steps): the training
        # noise is not measured, and no bound can be given
        return Interval(float(d[0]), -math.inf, math.inf, resamples=0, seeds=len(d))
    half = student_t.ppf((1 + confidence) / 2, len(d) - 1) * spread / math.sqrt(len(d))
    return Interval(float(d.mean()), float(d.mean() - half), float(d.mean() + half),
                    resamples=0, seeds=len(d))


def paired_difference(values_a: Sequence[float], values_b: Sequence[float],
                      resampled_a: Optional[np.ndarray] = None,
                      resampled_b: Optional[np.ndarray] = None,
                      confidence: float = 0.95) -> Interval:
    """The difference ``a - b`` of two configs' metric with the interval its seeds allow.

    Args:
        values_a (Sequence[float]): (K,) config a's metric on the full validation set, one
            value per seed.
        values_b (Sequence[float]): (K,) config b's, paired by seed.
        resampled_a (np.ndarray, optional): (R,) with one seed (K = 1): run a's metric on R
            resamples of the validation images
            (:func:`~asl_mmdet.analysis.bootstrap.resample_counts`).
        resampled_b (np.ndarray, optional): (R,) run b's metric on the same resamples.
        confidence (float): the interval's coverage.

    Returns:
        Interval: K >= 2: :func:`seed_interval`; K = 1: the paired bootstrap interval over the
        images (evaluation noise only: :func:`verdict_of` gives it none), or a nan interval
        without resamples.
    """
    if len(values_a) != len(values_b) or not len(values_a):
        raise ValueError(f'values_a and values_b must pair the same seeds (at least one), '
                         f'got {len(values_a)} and {len(values_b)} values')
    if len(values_a) >= 2:
        return seed_interval(values_a, values_b, confidence)
    if resampled_a is None or resampled_b is None:
        check_confidence(confidence)
        return Interval(float(values_a[0] - values_b[0]), float('nan'), float('nan'),
                        resamples=0)
    return paired_interval(values_a[0], resampled_a, values_b[0], resampled_b, confidence)


def verdict_of(interval: Interval) -> str:
    """The verdict on a higher-is-better metric: ``'better'`` if the interval lies above 0,
    ``'worse'`` below, else no difference; :data:`ONE_SEED` for an interval of one seed (no
    claim about the losses), ``'-'`` without an interval."""
    if math.isnan(interval.low):
        return '-'
    if interval.seeds < 2:
        return ONE_SEED
    if interval.low > 0:
        return BETTER
    if interval.high < 0:
        return WORSE
    return NO_DIFFERENCE
