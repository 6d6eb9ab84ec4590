"""asl_mmdet.analysis.accuracy: mmpretrain's single-label top-k accuracy for weighted image
sets, against mmpretrain's own Accuracy on the full set and on a set holding each image as
many times as a resample drew it; and the paired bootstrap of two single-label runs."""
import numpy as np
import pytest
import torch
from mmpretrain.evaluation import Accuracy

from asl_mmdet.analysis.accuracy import resampled_accuracy
from asl_mmdet.analysis.bootstrap import resample_counts
from asl_mmdet.analysis.predictions import Scorer
from asl_mmdet.analysis.verdict import BETTER, ONE_SEED, WORSE, verdict_of
from tests.test_analysis.synthetic import compare_scorers

TOPK = (1, 3, 5)


def predictions(num_images=60, num_classes=8, skill=1.0, seed=0):
    """Softmax scores (no ties) with the labelled class's logit raised by ``skill``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, num_images)
    logits = rng.normal(size=(num_images, num_classes))
    logits[np.arange(num_images), labels] += skill
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return scores, labels


def mmpretrain_accuracy(scores, labels, topk=TOPK):
    acc = Accuracy.calculate(torch.as_tensor(scores, dtype=torch.float32),
                             torch.as_tensor(labels), topk=topk)
    return {f'top{k}': value[0].item() for k, value in zip(topk, acc)}


def scorer(scores, labels, topk=(1, 5)):
    keys = [f'val/{i:03d}.png' for i in range(len(labels))]
    return Scorer('single-label', keys, lambda w: resampled_accuracy(scores, labels, w, topk),
                  'memory')


def test_full_set_equals_mmpretrain():
    scores, labels = predictions()
    ours = resampled_accuracy(scores, labels, np.ones((1, 60)), TOPK)
    theirs = mmpretrain_accuracy(scores, labels)
    assert sorted(ours) == sorted(theirs) == ['top1', 'top3', 'top5']
    for name, value in theirs.items():
        assert ours[name][0] == pytest.approx(value, abs=1e-4)
    assert 20 < ours['top1'][0] < ours['top3'][0] < ours['top5'][0] < 100


def test_resamples_equal_mmpretrain_on_replicated_images():
    scores, labels = predictions(seed=1)
    counts = resample_counts(60, 6, seed=2)
    assert counts.max() >= 3
    values = resampled_accuracy(scores, labels, counts, TOPK)
    for row, count in enumerate(counts):
        rows = np.repeat(np.arange(60), count)
        for name, value in mmpretrain_accuracy(scores[rows], labels[rows]).items():
            assert values[name][row] == pytest.approx(value, abs=1e-4), (row, name)


def test_a_run_against_itself_is_exactly_zero():
    run = scorer(*predictions(skill=0.5))
    intervals = compare_scorers({'ce': run, 'ce_again': run}).intervals['ce_again']
    for name, interval in intervals.items():
        assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0), name
        assert verdict_of(interval) == ONE_SEED


def test_perfect_predictions_beat_random_ones():
    scores, labels = predictions(num_images=80, skill=0.0, seed=3)  # chance level
    perfect = np.eye(8)[labels] * 0.9 + 0.1 / 8  # the labelled class scores highest
    weak, strong = scorer(scores, labels), scorer(perfect, labels)
    assert strong.full() == {'top1': 100.0, 'top5': 100.0}
    # one seed: above 0 on every resample of the images, and no verdict about the losses
    interval = compare_scorers({'random': weak, 'perfect': strong}).intervals['perfect']['top1']
    assert interval.low > 0 and verdict_of(interval) == ONE_SEED
    assert interval.difference == pytest.approx(100.0 - weak.full()['top1'])
    # three seeds (another chance-level model each): better, and the baseline worse
    weak = [scorer(predictions(num_images=80, skill=0.0, seed=s)[0], labels) for s in (4, 5, 6)]
    runs = {f'random_seed{k}': weak[k] for k in range(3)}
    perfect = {f'perfect_seed{k}': strong for k in range(3)}
    interval = compare_scorers({**runs, **perfect}).intervals['perfect']['top1']
    assert interval.low > 0 and verdict_of(interval) == BETTER
    interval = compare_scorers({**perfect, **runs}).intervals['random']['top1']
    assert interval.high < 0 and verdict_of(interval) == WORSE


def test_argument_errors():
    scores, labels = predictions(num_images=4)
    with pytest.raises(ValueError, match=r'scores must have shape \(N, C\) and labels \(N,\)'):
        resampled_accuracy(scores, labels[:3], np.ones((1, 4)))
    with pytest.raises(ValueError, match=r'weights must have shape \(R, 4\)'):
        resampled_accuracy(scores, labels, np.ones((1, 5)))
    with pytest.raises(ValueError, match=r'topk must hold integers in \[1, 8\], got \(1, 9\)'):
        resampled_accuracy(scores, labels, np.ones((1, 4)), topk=(1, 9))
    with pytest.raises(ValueError, match=r'labels must be class indices in \[0, 8\)'):
        resampled_accuracy(scores, labels + 8, np.ones((1, 4)))
