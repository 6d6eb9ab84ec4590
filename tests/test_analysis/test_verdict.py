"""asl_mmdet.analysis.verdict: the verdict rule tools/compare.py applies, measured.

Simulated comparisons of two configs, many repetitions: each trains K seeds (paired: the same
seed shares a model effect), each model scores the same 50 validation images. A model gets an
image right with probability ``sigmoid(difficulty + seed + model + interaction)``: the image's
difficulty is shared by every model (the validation set), the seed's effect by the two configs
of a seed, the model's effect is its own training noise and the interaction its noise per
image. The metric is the accuracy in percent. With identical losses every ``better`` or
``worse`` is false: the rule must say so in at most 5% of the repetitions (up to the Monte
Carlo error) whatever the seed count; with a planted difference it must find it.
"""
import math

import numpy as np
import pytest

from asl_mmdet.analysis.bootstrap import resample_counts
from asl_mmdet.analysis.verdict import (BETTER, NO_DIFFERENCE, ONE_SEED, WORSE,
                                        paired_difference, seed_interval, verdict_of)
from asl_mmdet.demo import DEMO_TASKS

REPETITIONS = 2000
IMAGES = 50
RESAMPLES = 200  # bootstrap resamples of one seed's images
IMAGE_SD, SEED_SD, MODEL_SD, INTERACTION_SD = 1.5, 0.3, 0.5, 0.5  # logit scale
PLANTED = 3 * MODEL_SD  # config a's logit shift in the planted-difference runs
ALPHA = 0.05
# the false verdict rate's bound: 5% plus three Monte Carlo standard errors
FALSE_RATE_BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / REPETITIONS)


def simulate(seeds: int, shift: float, seed: int) -> np.ndarray:
    """Which images each model gets right: (repetitions, 2 configs, seeds, images) bool."""
    rng = np.random.default_rng(seed)
    logit = (rng.normal(0, IMAGE_SD, (REPETITIONS, 1, 1, IMAGES))
             + rng.normal(0, SEED_SD, (REPETITIONS, 1, seeds, 1))
             + rng.normal(0, MODEL_SD, (REPETITIONS, 2, seeds, 1))
             + rng.normal(0, INTERACTION_SD, (REPETITIONS, 2, seeds, IMAGES))
             + np.array([shift, 0.0])[:, None, None])
    return rng.random(logit.shape) < 1 / (1 + np.exp(-logit))


def compare(correct: np.ndarray) -> list:
    """The rule on every repetition, as tools/compare.py applies it: the per-seed accuracies
    on the full set, and with one seed the accuracies on resampled images too."""
    accuracy = correct.mean(axis=-1) * 100
    counts = resample_counts(IMAGES, RESAMPLES, seed=0)
    intervals = []
    for rep in range(REPETITIONS):
        resampled = ((counts @ correct[rep, c, 0] / IMAGES * 100 for c in (0, 1))
                     if correct.shape[2] == 1 else (None, None))
        intervals.append(paired_difference(accuracy[rep, 0], accuracy[rep, 1], *resampled))
    return intervals


def rates(intervals: list) -> dict:
    verdicts = [verdict_of(interval) for interval in intervals]
    return {v: verdicts.count(v) / len(verdicts) for v in (BETTER, WORSE)}


# the seed counts of the demos' defaults among them: the rate `make demo` reports
SEED_COUNTS = sorted({1, 2, 3, 5} | {task.seeds for task in DEMO_TASKS.values()})


@pytest.mark.parametrize('seeds', SEED_COUNTS)
def test_identical_losses_are_called_different_at_most_five_percent_of_the_time(seeds):
    intervals = compare(simulate(seeds, 0.0, seed=seeds))
    found = rates(intervals)
    assert found[BETTER] + found[WORSE] <= FALSE_RATE_BOUND, found
    if seeds == 1:
        # no verdict; and the image bootstrap alone would have given one far too often: its
        # interval holds the evaluation noise of two trained models, not their training noise
        assert {verdict_of(i) for i in intervals} == {ONE_SEED}
        excludes_zero = np.mean([i.low > 0 or i.high < 0 for i in intervals])
        assert excludes_zero > 4 * ALPHA, excludes_zero
    else:
        # calibrated, not merely conservative: the t interval is exact for normal differences
        assert found[BETTER] + found[WORSE] >= ALPHA / 2, found
        assert {i.seeds for i in intervals} == {seeds}


@pytest.mark.parametrize('seeds,power', [(3, 0.3), (5, 0.7)])
def test_a_planted_difference_is_found(seeds, power):
    correct = simulate(seeds, PLANTED, seed=10 + seeds)
    accuracy = correct.mean(axis=-1) * 100
    # the planted difference is a few times the training noise of one config's accuracy
    seed_noise = accuracy[:, 1].std(axis=-1, ddof=1).mean()
    planted = (accuracy[:, 0] - accuracy[:, 1]).mean()
    assert 2 < planted / seed_noise < 4, (planted, seed_noise)
    found = rates(compare(correct))
    assert found[BETTER] >= power and found[WORSE] == 0, found


def test_one_seed_gets_no_verdict_whatever_its_interval():
    # one trained model each, far apart on every resample of the images: still no claim about
    # the losses, since their training noise was not measured
    interval = paired_difference([80.0], [40.0], np.full(5, 80.0), np.full(5, 40.0))
    assert (interval.low, interval.high, interval.seeds) == (40.0, 40.0, 1)
    assert verdict_of(interval) == ONE_SEED == 'none: one seed, training noise not measured'
    assert verdict_of(paired_difference([0.5], [0.4])) == '-'  # no predictions kept


def test_seed_interval_is_students_t_over_the_paired_differences():
    a, b = [0.30, 0.36, 0.33], [0.29, 0.31, 0.30]
    d = np.subtract(a, b)
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t_{0.975, 2}
    interval = seed_interval(a, b)
    assert interval.difference == pytest.approx(d.mean())
    assert (interval.low, interval.high) == (pytest.approx(d.mean() - half),
                                             pytest.approx(d.mean() + half))
    assert (interval.seeds, verdict_of(interval)) == (3, NO_DIFFERENCE)
    assert verdict_of(seed_interval([0.5, 0.6, 0.7], [0.3, 0.41, 0.49])) == BETTER
    assert verdict_of(seed_interval([0.3, 0.41, 0.49], [0.5, 0.6, 0.7])) == WORSE
    # the same model twice: exactly 0; equal nonzero differences measure no noise: unbounded
    assert (seed_interval(a, a).low, seed_interval(a, a).high) == (0.0, 0.0)
    steps = seed_interval([52.0, 60.0], [50.0, 58.0])
    assert (steps.low, steps.high, verdict_of(steps)) == (-math.inf, math.inf, NO_DIFFERENCE)
    # pycocotools' -1 (no ground truth of that size) leaves the seed out
    assert seed_interval([-1.0, 0.4, 0.5], [-1.0, 0.3, 0.5]).seeds == 2
    assert verdict_of(seed_interval([-1.0, -1.0], [-1.0, -1.0])) == '-'


def test_argument_errors():
    with pytest.raises(ValueError, match=r'must pair the same seeds \(at least one\), got 2 '
                       'and 3'):
        paired_difference([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match='confidence must be in'):
        seed_interval([1.0, 2.0], [1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match=r'the same shape \(K,\)'):
        seed_interval([[1.0, 2.0]], [[1.0, 2.0]])
