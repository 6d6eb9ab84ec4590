"""asl_mmdet.analysis.multilabel_ap: mmpretrain's mAP for weighted image sets, against
mmpretrain's own AveragePrecision on the full set and on a set holding each image as many
times as a resample drew it."""
import numpy as np
import pytest
import torch
from mmpretrain.evaluation import AveragePrecision

from asl_mmdet.analysis.bootstrap import resample_counts
from asl_mmdet.analysis.multilabel_ap import resampled_map


def scores_and_labels(num_images=40, num_classes=6, seed=0):
    rng = np.random.default_rng(seed)
    target = (rng.random((num_images, num_classes)) < 0.3).astype(np.int64)
    target[rng.random(target.shape) < 0.05] = -1  # difficult: left out
    target[:, -1] = 0  # a class without positives scores 0 and counts in the mean
    scores = rng.random(target.shape) + 0.5 * (target == 1)  # no ties
    return scores, target


def mmpretrain_map(scores, target):
    return AveragePrecision.calculate(torch.as_tensor(scores, dtype=torch.float32),
                                      torch.as_tensor(target)).item()


def test_full_set_equals_mmpretrain():
    scores, target = scores_and_labels()
    ours = resampled_map(scores, target, np.ones((1, 40)))[0]
    assert ours == pytest.approx(mmpretrain_map(scores, target), abs=1e-4)
    assert 30 < ours < 90


def test_resamples_equal_mmpretrain_on_replicated_images():
    scores, target = scores_and_labels(seed=1)
    counts = resample_counts(40, 5, seed=2)
    assert counts.max() >= 3
    values = resampled_map(scores, target, counts)
    for row, count in enumerate(counts):
        rows = np.repeat(np.arange(40), count)
        assert values[row] == pytest.approx(mmpretrain_map(scores[rows], target[rows]),
                                            abs=1e-4)


def test_shape_errors():
    with pytest.raises(ValueError, match='scores and target'):
        resampled_map(np.zeros((3, 2)), np.zeros((3, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match=r'weights must have shape \(R, 3\)'):
        resampled_map(np.zeros((3, 2)), np.zeros((3, 2)), np.ones((1, 4)))
