"""asl_mmdet.analysis.bootstrap and report.compare_groups: the paired bootstrap of two runs'
predictions over the same resampled validation images (one seed each: no verdict), and
configs of several seeds paired by seed (a Student-t interval and a verdict)."""
import numpy as np
import pytest

from asl_mmdet.analysis.bootstrap import Interval, paired_interval, resample_counts
from asl_mmdet.analysis.coco_ap import AP_METRICS, ResampledCocoAP, evaluate_boxes
from asl_mmdet.analysis.multilabel_ap import resampled_map
from asl_mmdet.analysis.predictions import Scorer
from asl_mmdet.analysis.verdict import BETTER, NO_DIFFERENCE, ONE_SEED, WORSE, verdict_of
from tests.test_analysis.synthetic import compare_scorers as compare
from tests.test_analysis.synthetic import detections, ground_truth


def detection_scorer(coco, results):
    ap = ResampledCocoAP(evaluate_boxes(coco, results))
    return Scorer('detection', ap.image_ids, ap, 'memory')


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
        assert verdict_of(interval) == ONE_SEED


def test_a_better_model_is_above_zero_but_one_seed_gets_no_verdict(weak, strong):
    for name, interval in compare({'weak': weak, 'strong': strong}).intervals['strong'].items():
        assert interval.low > 0 and verdict_of(interval) == ONE_SEED, (name, interval)
    interval = compare({'strong': strong, 'weak': weak}).intervals['weak']['bbox_mAP']
    assert interval.high < 0 and verdict_of(interval) == ONE_SEED
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
    assert interval.low > 0 and verdict_of(interval) == ONE_SEED


def test_resampling_is_deterministic_under_a_seed(weak, strong):
    counts = resample_counts(50, 200, seed=3)
    assert counts.shape == (200, 50) and (counts.sum(axis=1) == 50).all()
    assert (counts == resample_counts(50, 200, seed=3)).all()
    assert not (counts == resample_counts(50, 200, seed=4)).all()
    first = compare({'weak': weak, 'strong': strong}, seed=5).intervals['strong']
    again = compare({'weak': weak, 'strong': strong}, seed=5).intervals['strong']
    other = compare({'weak': weak, 'strong': strong}, seed=6).intervals['strong']
    assert first == again and first != other


def test_seeds_are_paired_by_seed_with_a_t_interval(coco, weak, strong):
    # x and y: each seed's model is the same in both configs: exactly 0, no difference
    boot = compare({'x_seed0': weak, 'x_seed1': strong, 'y_seed0': weak, 'y_seed1': strong})
    interval = boot.intervals['y']['bbox_mAP']
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert (interval.seeds, interval.resamples, verdict_of(interval)) == (2, 0, NO_DIFFERENCE)
    assert boot.seeds == {'y': [0, 1]}
    # three seeds, a better model in each: better, on the means of the full-set APs
    models = [detection_scorer(coco, detections(coco, quality=q, seed=s))
              for q, s in ((0.2, 4), (0.25, 5), (0.15, 6), (0.8, 7), (0.75, 8), (0.85, 9))]
    boot = compare({f'{name}_seed{k}': models[3 * i + k]
                    for i, name in enumerate(('focal', 'asl')) for k in range(3)})
    interval = boot.intervals['asl']['bbox_mAP']
    assert interval.difference == pytest.approx(np.mean(
        [models[3 + k].full()['bbox_mAP'] - models[k].full()['bbox_mAP'] for k in range(3)]))
    assert (interval.seeds, verdict_of(interval)) == (3, BETTER)
    boot = compare({f'{name}_seed{k}': models[3 * i + k]
                    for i, name in reversed(list(enumerate(('focal', 'asl')))) for k in range(3)})
    assert verdict_of(boot.intervals['focal']['bbox_mAP']) == WORSE
    # the seeds the two configs share, and none in common: not compared, and said so
    boot = compare({'a_seed0': weak, 'a_seed1': strong, 'a_seed2': weak, 'b_seed1': weak,
                    'b_seed2': strong, 'c_seed7': weak, 'c_seed8': weak})
    assert boot.seeds == {'b': [1, 2]} and list(boot.intervals) == ['b']
    assert boot.notes == ["c: not compared, no seed in common with a (seeds [7, 8] and "
                          "[0, 1, 2])"]


def test_paired_interval_leaves_out_resamples_without_the_metric():
    interval = paired_interval(0.5, np.array([-1.0, 0.6, 0.7]), 0.4, np.array([0.3, -1.0, 0.5]))
    assert interval == Interval(pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.2), 1)
    assert np.isnan(paired_interval(0., np.array([-1.]), 0., np.array([1.])).low)
    with pytest.raises(ValueError, match='confidence'):
        paired_interval(0, np.zeros(2), 0, np.zeros(2), confidence=1.5)
    with pytest.raises(ValueError, match='num_resamples must be a positive integer'):
        resample_counts(10, 0, seed=0)
