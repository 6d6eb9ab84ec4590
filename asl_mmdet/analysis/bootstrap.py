"""Paired bootstrap over validation images: resample counts, intervals and verdicts.

Two runs evaluated on the same validation images are compared on the same resamples: each
resample draws N images with replacement (``resample_counts``: how often each image is
drawn), both runs' metrics are recomputed on it, and the 2.5% and 97.5% quantiles of the
differences give the 95% interval (the percentile bootstrap). A run against itself gives
exactly 0. Runs repeated over seeds add the training noise: each resample also draws the
seeds with replacement and averages the drawn seeds' metrics (``seed_draws``,
``mean_over_seeds``); runs of two configs with the same seeds draw the same seeds, paired.
"""
from dataclasses import dataclass
from typing import Dict, Sequence

import numpy as np

__all__ = ['BETTER', 'WORSE', 'NO_DIFFERENCE', 'Interval', 'resample_counts', 'seed_draws',
           'mean_over_seeds', 'paired_interval', 'paired_intervals']

BETTER, WORSE, NO_DIFFERENCE = 'better', 'worse', 'no difference at this sample size'


@dataclass(frozen=True)
class Interval:
    """A paired difference ``a - b`` and its bootstrap interval.

    Attributes:
        difference (float): the difference on the full set.
        low (float): the interval's lower end (nan if no resample had both metrics).
        high (float): its upper end.
        resamples (int): the resamples that had the metric for both runs.
    """
    difference: float
    low: float
    high: float
    resamples: int

    @property
    def verdict(self) -> str:
        """``'better'`` if the interval lies above 0, ``'worse'`` below, else no difference
        (a higher metric is better)."""
        if self.low > 0:
            return BETTER
        if self.high < 0:
            return WORSE
        return NO_DIFFERENCE


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


def seed_draws(num_seeds: int, num_resamples: int, seed: int) -> np.ndarray:
    """Which of ``num_seeds`` training runs each resample averages: (R, num_seeds) indices
    drawn with replacement (all 0 for a single run); reproducible under ``seed``."""
    _check_count('num_seeds', num_seeds)
    rng = np.random.default_rng([seed, num_seeds])
    return rng.integers(0, num_seeds, size=(num_resamples, num_seeds))


def mean_over_seeds(values: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """The per-resample mean of the drawn seeds' metric.

    Args:
        values (np.ndarray): (K, R) the metric of each of K seeds on each resample.
        draws (np.ndarray): (R, K) seed indices, from :func:`seed_draws`.

    Returns:
        np.ndarray: (R,) values.
    """
    values = np.asarray(values, dtype=np.float64)
    return values[draws, np.arange(values.shape[1])[:, None]].mean(axis=1)


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
    if not 0 < confidence < 1:
        raise ValueError(f'confidence must be in (0, 1), got {confidence!r}')
    a, b = np.asarray(resampled_a, np.float64), np.asarray(resampled_b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f'resampled_a and resampled_b must have the same shape (R,), got '
                         f'{a.shape} and {b.shape}')
    kept = (a >= 0) & (b >= 0)
    if not kept.any():
        return Interval(float(full_a - full_b), float('nan'), float('nan'), 0)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(a[kept] - b[kept], [tail, 100 - tail])
    return Interval(float(full_a - full_b), float(low), float(high), int(kept.sum()))


def paired_intervals(full_a: Dict[str, float], resampled_a: Dict[str, np.ndarray],
                     full_b: Dict[str, float], resampled_b: Dict[str, np.ndarray],
                     confidence: float = 0.95,
                     metrics: Sequence[str] = None) -> Dict[str, Interval]:
    """:func:`paired_interval` for every metric of ``resampled_a`` (or ``metrics``)."""
    return {m: paired_interval(full_a[m], resampled_a[m], full_b[m], resampled_b[m], confidence)
            for m in (metrics or resampled_a)}
