"""Multi-label mAP (mmpretrain's ``AveragePrecision``) on resampled image sets.

mmpretrain's average precision of a class ranks the images by score and averages, over the
positive images, the precision at each one (no interpolation); images labelled -1 (difficult)
are left out; a class without positives scores 0 and the mAP is the mean over all classes,
in percent. An image drawn ``w`` times by a bootstrap resample counts as ``w`` copies of it:
its copies are ``w`` consecutive positives, at precisions ``(tp + j) / (n + j)`` for
``j = 1..w`` after ``n`` images and ``tp`` positives ranked above it.
"""
import numpy as np

__all__ = ['resampled_map']


def resampled_map(scores: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """mmpretrain's macro mAP (percent) for each row of image weights.

    Args:
        scores (np.ndarray): (N, C) predicted scores.
        target (np.ndarray): (N, C) labels: 1 positive, 0 negative, -1 left out.
        weights (np.ndarray): (R, N) how often each image counts (bootstrap counts, or ones
            for the full set).

    Returns:
        np.ndarray: (R,) mAP in percent.
    """
    scores, target = np.asarray(scores, dtype=np.float64), np.asarray(target)
    weights = np.asarray(weights, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != target.shape:
        raise ValueError(f'scores and target must both have shape (N, C), got {scores.shape} '
                         f'and {target.shape}')
    if weights.ndim != 2 or weights.shape[1] != scores.shape[0]:
        raise ValueError(f'weights must have shape (R, {scores.shape[0]}), got {weights.shape}')
    eps = np.finfo(np.float32).eps  # mmpretrain's guard for a class without positives
    counts = weights.astype(np.float32)  # integer counts: exact in float32 products and sums
    ap = np.zeros((len(weights), scores.shape[1]))
    for c in range(scores.shape[1]):
        valid = np.flatnonzero(target[:, c] > -1)
        order = valid[np.argsort(-scores[valid, c], kind='stable')]
        rank = np.full(len(scores), len(scores))  # left-out images rank below everything
        rank[order] = np.arange(len(order))
        positives = order[target[order, c] == 1]
        if not len(positives):
            continue
        # images ranked above each positive, counted with their weights: one product
        above = (rank[:, None] < rank[positives][None, :]).astype(np.float32)
        ranked_before = (counts @ above).astype(np.float64)
        w_pos = weights[:, positives]
        tp_before = np.cumsum(w_pos, axis=1) - w_pos  # positives ranked above
        total = np.zeros(len(weights))
        for copy in range(1, int(w_pos.max()) + 1):
            total += np.where(w_pos >= copy, (tp_before + copy) / (ranked_before + copy),
                              0.0).sum(axis=1)
        ap[:, c] = total / np.maximum(w_pos.sum(axis=1), eps)
    return ap.mean(axis=1) * 100.0
