"""asl_mmdet.analysis.accuracy: mmpretrain's single-label top-k accuracy for weighted image
sets, against mmpretrain's own Accuracy on the full set and on a set holding each image as
many times as a resample drew it; and the paired bootstrap of two single-label runs."""
import numpy as np
import pytest
import torch
from mmpretrain.evaluation import Accuracy

from asl_mmdet.analysis.accuracy import resampled_accuracy
from asl_mmdet.analysis.bootstrap import BETTER, NO_DIFFERENCE, WORSE, resample_counts
from asl_mmdet.analysis.predictions import Scorer
from asl_mmdet.analysis.report import bootstrap_groups
from asl_mmdet.analysis.runs import Run, group_runs

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


def compare(scorers, resamples=500, seed=0):
    """bootstrap_groups over runs named by ``scorers`` (the first is the baseline)."""
    runs = [Run(f'/runs/{name}', name, [], []) for name in scorers]
    groups = group_runs(runs)
    return bootstrap_groups(groups, next(iter(groups)), scorers, resamples, seed)


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
    for name, interval in compare({'ce': run, 'ce_again': run}).intervals['ce_again'].items():
        assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0), name
        assert interval.verdict == NO_DIFFERENCE


def test_perfect_predictions_beat_random_ones():
    scores, labels = predictions(num_images=80, skill=0.0, seed=3)  # chance level
    perfect = np.eye(8)[labels] * 0.9 + 0.1 / 8  # the labelled class scores highest
    weak, strong = scorer(scores, labels), scorer(perfect, labels)
    assert strong.full() == {'top1': 100.0, 'top5': 100.0}
    interval = compare({'random': weak, 'perfect': strong}).intervals['perfect']['top1']
    assert interval.low > 0 and interval.verdict == BETTER
    assert interval.difference == pytest.approx(100.0 - weak.full()['top1'])
    interval = compare({'perfect': strong, 'random': weak}).intervals['random']['top1']
    assert interval.high < 0 and interval.verdict == WORSE


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
