"""Paired bootstrap over validation images: resample counts and intervals.

Two runs evaluated on the same validation images are compared on the same resamples: each
resample draws N images with replacement (``resample_counts``: how often each image is
drawn), both runs' metrics are recomputed on it, and the 2.5% and 97.5% quantiles of the
differences give the 95% interval (the percentile bootstrap). A run against itself gives
exactly 0. The interval holds the evaluation noise of the two trained models on these images,
not the training noise: :mod:`asl_mmdet.analysis.verdict` decides what it may claim.
"""
from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np

__all__ = ['Interval', 'check_confidence', 'paired_differences', 'resample_counts',
           'paired_interval', 'paired_intervals']


@dataclass(frozen=True)
class Interval:
    """A paired difference ``a - b`` and its interval.

    Attributes:
        difference (float): the difference on the full set (over several seeds: the mean of
            the per-seed differences).
        low (float): the interval's lower end (nan without an interval).
        high (float): its upper end.
        resamples (int): the image resamples that had the metric for both runs (0 for an
            interval over seeds).
        seeds (int): the paired seeds behind it (1: a bootstrap over the images of one trained
            model each).
    """
    difference: float
    low: float
    high: float
    resamples: int
    seeds: int = 1


def check_confidence(confidence: float) -> None:
    """Raise a ``ValueError`` unless an interval's coverage ``confidence`` is in (0, 1)."""
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence!r}')


def paired_differences(values_a: Sequence[float], values_b: Sequence[float], names: str,
                       size: str) -> np.ndarray:
    """``a - b`` where both values are >= 0: a negative value (pycocotools' -1, no ground
    truth for the metric) leaves its pair out.

    Raises:
        ValueError: unless the two are 1-D of one length (``names`` and ``size`` word it).
    """
    a, b = np.asarray(values_a, np.float64), np.asarray(values_b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f'{names} must have the same shape ({size},), got {a.shape} and '
                         f'{b.shape}')
    kept = (a >= 0) & (b >= 0)
    return a[kept] - b[kept]


def _check_count(name: str, value: int) -> None:
    if int(value) != value or value < 1:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')


def resample_counts(num_items: int, num_resamples: int, seed: int) -> np.ndarray:
    """How often each of ``num_items`` images is drawn, in ``num_resamples`` draws of
    ``num_items`` with replacement; the same arguments give the same counts.

    Returns:
        np.ndarray: (num_resamples, num_items) int64 counts, each row summing to num_items.
    """
    _check_count('num_items', num_items)
    _check_count('num_resamples', num_resamples)
    rng = np.random.default_rng(seed)
    return rng.multinomial(num_items, np.full(num_items, 1.0 / num_items), size=num_resamples)


def paired_interval(full_a: float, resampled_a: np.ndarray, full_b: float,
                    resampled_b: np.ndarray, confidence: float = 0.95) -> Interval:
    """The difference ``a - b`` and its percentile-bootstrap interval.

    Args:
        full_a (float): run a's metric on the full set.
        resampled_a (np.ndarray): (R,) run a's metric on each resample; negative values (a
            resample without the metric's ground truth: pycocotools' -1) are left out.
        full_b (float): run b's metric on the full set.
        resampled_b (np.ndarray): (R,) run b's metric on the same resamples.
        confidence (float): the interval's coverage, in (0, 1).
    """
    check_confidence(confidence)
    d = paired_differences(resampled_a, resampled_b, 'resampled_a and resampled_b', 'R')
    if not len(d):
        return Interval(float(full_a - full_b), float('nan'), float('nan'), 0)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(d, [tail, 100 - tail])
    return Interval(float(full_a - full_b), float(low), float(high), len(d))


def paired_intervals(full_a: Dict[str, float], resampled_a: Dict[str, np.ndarray],
                     full_b: Dict[str, float], resampled_b: Dict[str, np.ndarray],
                     confidence: float = 0.95,
                     metrics: Sequence[str] = None) -> Dict[str, Interval]:
    """:func:`paired_interval` for every metric of ``resampled_a`` (or ``metrics``)."""
    return {m: paired_interval(full_a[m], resampled_a[m], full_b[m], resampled_b[m], confidence)
            for m in (metrics or resampled_a)}
