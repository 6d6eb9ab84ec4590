"""Single-label top-k accuracy (mmpretrain's ``Accuracy``) on resampled image sets.

mmpretrain counts an image as correct at k when its labelled class is among the k highest
scores and its score is above the threshold (default 0), and reports the percentage of correct
images. An image drawn ``w`` times by a bootstrap resample counts ``w`` times, so the accuracy
of a resample is the weighted mean of the per-image hits. The labelled class is among the top k
when fewer than k classes score strictly higher (ties, which ``torch.topk`` breaks by position,
need equal floating-point scores).
"""
from typing import Dict, Sequence

import numpy as np

__all__ = ['resampled_accuracy']


def resampled_accuracy(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                       topk: Sequence[int] = (1, 5)) -> Dict[str, np.ndarray]:
    """mmpretrain's top-k accuracy (percent) for each row of image weights.

    Args:
        scores (np.ndarray): (N, C) predicted scores (``pred_score``).
        labels (np.ndarray): (N,) class indices (``gt_label``).
        weights (np.ndarray): (R, N) how often each image counts (bootstrap counts, or ones
            for the full set).
        topk (Sequence[int]): the k of each metric, each in [1, C].

    Returns:
        dict[str, np.ndarray]: ``'top{k}'`` -> (R,) accuracy in percent, as mmpretrain logs it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    weights = np.asarray(weights, dtype=np.float64)
    if scores.ndim != 2 or labels.shape != (scores.shape[0], ):
        raise ValueError(f'scores must have shape (N, C) and labels (N,), got {scores.shape} '
                         f'and {labels.shape}')
    if weights.ndim != 2 or weights.shape[1] != scores.shape[0]:
        raise ValueError(f'weights must have shape (R, {scores.shape[0]}), got {weights.shape}')
    num_classes = scores.shape[1]
    for k in topk:
        if int(k) != k or not 1 <= k <= num_classes:
            raise ValueError(f'topk must hold integers in [1, {num_classes}], got {tuple(topk)}')
    if labels.size and not (0 <= labels.min() and labels.max() < num_classes):
        raise ValueError(f'labels must be class indices in [0, {num_classes}), got '
                         f'{labels.min()}..{labels.max()}')
    labelled = scores[np.arange(len(labels)), labels]
    higher = (scores > labelled[:, None]).sum(axis=1)  # classes ranked above the label
    total = np.maximum(weights.sum(axis=1), np.finfo(np.float64).tiny)
    return {f'top{k}': weights @ ((higher < k) & (labelled > 0)).astype(np.float64)
            / total * 100.0 for k in topk}
