"""asl_mmdet.analysis.bootstrap and report.bootstrap_groups: the paired bootstrap of two runs'
predictions over the same resampled validation images."""
import numpy as np
import pytest

from asl_mmdet.analysis.bootstrap import (BETTER, NO_DIFFERENCE, WORSE, Interval,
                                          mean_over_seeds, paired_interval, resample_counts,
                                          seed_draws)
from asl_mmdet.analysis.coco_ap import AP_METRICS, ResampledCocoAP, evaluate_boxes
from asl_mmdet.analysis.multilabel_ap import resampled_map
from asl_mmdet.analysis.predictions import Scorer
from asl_mmdet.analysis.report import bootstrap_groups
from asl_mmdet.analysis.runs import Run, group_runs
from tests.test_analysis.synthetic import detections, ground_truth


def detection_scorer(coco, results):
    ap = ResampledCocoAP(evaluate_boxes(coco, results))
    return Scorer('detection', ap.image_ids, ap, 'memory')


def compare(scorers, resamples=300, seed=0):
    """bootstrap_groups over runs named by ``scorers`` (the first is the baseline)."""
    runs = [Run(f'/runs/{name}', name, [], []) for name in scorers]
    groups = group_runs(runs)
    return bootstrap_groups(groups, next(iter(groups)), scorers, resamples, seed)


@pytest.fixture(scope='module')
def coco():
    return ground_truth(80, 4, seed=0, crowd=0.0)


@pytest.fixture(scope='module')
def weak(coco):
    return detection_scorer(coco, detections(coco, quality=0.2, seed=1))


@pytest.fixture(scope='module')
def strong(coco):
    # a fixed better model: the ground truth boxes themselves, scored high, and the weak
    # model's false positives below them
    boxes = [dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                  score=0.99) for a in coco.dataset['annotations']]
    return detection_scorer(coco, boxes + detections(coco, quality=0.2, seed=1))


def test_a_run_against_itself_is_exactly_zero(weak):
    boot = compare({'focal': weak, 'focal_again': weak})
    for name in AP_METRICS:
        interval = boot.intervals['focal_again'][name]
        assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)
        assert interval.verdict == NO_DIFFERENCE


def test_a_better_model_is_better_and_the_baseline_worse(weak, strong):
    for name, interval in compare({'weak': weak, 'strong': strong}).intervals['strong'].items():
        assert interval.low > 0 and interval.verdict == BETTER, (name, interval)
    interval = compare({'strong': strong, 'weak': weak}).intervals['weak']['bbox_mAP']
    assert interval.high < 0 and interval.verdict == WORSE
    assert interval.difference == pytest.approx(weak.full()['bbox_mAP'] -
                                                strong.full()['bbox_mAP'])


def test_two_close_models_are_no_different_at_this_sample_size(coco):
    a = detection_scorer(coco, detections(coco, quality=0.5, seed=2))
    b = detection_scorer(coco, detections(coco, quality=0.5, seed=3))
    interval = compare({'a': a, 'b': b}).intervals['b']['bbox_mAP']
    assert interval.low < 0 < interval.high and interval.difference != 0


def test_classification_better_model(coco):
    rng = np.random.default_rng(0)
    target = (rng.random((60, 5)) < 0.3).astype(np.int64)
    noise = rng.random(target.shape)
    scorers = {}
    for name, signal in (('bce', 0.1), ('asl', 0.8)):
        scores = noise + signal * target
        scorers[name] = Scorer('classification', list(range(60)),
                               lambda w, s=scores: dict(mAP=resampled_map(s, target, w)), 'm')
    interval = compare(scorers).intervals['asl']['mAP']
    assert interval.low > 0 and interval.verdict == BETTER


def test_resampling_is_deterministic_under_a_seed(weak, strong):
    counts = resample_counts(50, 200, seed=3)
    assert counts.shape == (200, 50) and (counts.sum(axis=1) == 50).all()
    assert (counts == resample_counts(50, 200, seed=3)).all()
    assert not (counts == resample_counts(50, 200, seed=4)).all()
    first = compare({'weak': weak, 'strong': strong}, seed=5).intervals['strong']
    again = compare({'weak': weak, 'strong': strong}, seed=5).intervals['strong']
    other = compare({'weak': weak, 'strong': strong}, seed=6).intervals['strong']
    assert first == again and first != other


def test_seeds_are_resampled_and_paired(coco, weak, strong):
    draws = seed_draws(3, 1000, seed=0)
    assert draws.shape == (1000, 3) and set(np.unique(draws)) == {0, 1, 2}
    assert (seed_draws(1, 10, seed=0) == 0).all()
    values = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # 3 seeds x 2 resamples
    assert mean_over_seeds(values, np.array([[0, 0, 2], [1, 1, 1]])).tolist() == [
        (1 + 1 + 5) / 3, 4.0]
    # two seeds of the same model on each side: still exactly 0
    boot = compare({'x_seed0': weak, 'x_seed1': strong, 'y_seed0': weak, 'y_seed1': strong})
    interval = boot.intervals['y']['bbox_mAP']
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)


def test_paired_interval_leaves_out_resamples_without_the_metric():
    interval = paired_interval(0.5, np.array([-1.0, 0.6, 0.7]), 0.4, np.array([0.3, -1.0, 0.5]))
    assert interval == Interval(pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.2), 1)
    assert np.isnan(paired_interval(0., np.array([-1.]), 0., np.array([1.])).low)
    with pytest.raises(ValueError, match='confidence'):
        paired_interval(0, np.zeros(2), 0, np.zeros(2), confidence=1.5)
    with pytest.raises(ValueError, match='num_resamples must be a positive integer'):
        resample_counts(10, 0, seed=0)
