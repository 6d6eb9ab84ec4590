"""Pipeline transforms for multi-label classification with unknown labels.

mmpretrain's VOC dataset tells apart the labels of an image's objects (``gt_label``) from the
labels of its *difficult* objects (``gt_label_difficult``); :class:`CocoMultiLabel` with
``crowd_as_unknown=True`` does the same for COCO's crowd annotations. A label that only comes
from such objects is neither a sure positive nor a sure negative: :class:`UnknownLabelsToScore`
marks it unknown, -1, in the dense ``gt_score`` that ``PackInputs`` packs. mmpretrain then uses
that vector everywhere: the multi-label heads pass it to the loss as the ``(N, C)`` target, and
``AveragePrecision`` / ``MultiLabelMetric`` leave its -1 entries out.
"""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

__all__ = ['UnknownLabelsToScore']


def _as_indices(value, key: str, num_classes: int) -> np.ndarray:
    """Class indices of ``value`` (a list, array or tensor) as an int64 array, checked."""
    indices = np.asarray(value, dtype=np.int64).reshape(-1)
    bad = indices[(indices < 0) | (indices >= num_classes)]
    if bad.size:
        raise ValueError(f'{key} must hold class indices in [0, {num_classes}), got '
                         f'{bad.tolist()}')
    return indices


@TRANSFORMS.register_module()
class UnknownLabelsToScore(BaseTransform):
    """Builds a dense ``gt_score``: 1 for positives, -1 for unknown labels, 0 otherwise.

    For an image with positive labels :math:`P` (``gt_label``) and flagged labels :math:`D`
    (``results[unknown_key]``), the score of class :math:`c` is

    .. math::
        s_c = \\begin{cases} 1 & c \\in P \\\\ -1 & c \\in D \\setminus P \\\\
        0 & \\text{otherwise} \\end{cases}

    so a class with one plain object and one difficult (or crowd) object stays positive, as in
    mmpretrain's VOC metrics. ``gt_label`` is kept as it is.

    Put it before ``PackInputs``, which packs ``gt_score`` by default. Downstream:

    - the multi-label heads (``MultiLabelClsHead._get_loss``) take ``gt_score`` as the loss
      target instead of the one-hot ``gt_label``: the loss must ignore -1 entries (``ASLoss``
      does);
    - ``AveragePrecision`` and ``MultiLabelMetric`` drop the -1 entries;
      ``VOCAveragePrecision`` / ``VOCMultiLabelMetric`` with ``difficult_as_positive=None``
      (their default) give the same result with or without this transform; with ``True`` they
      set the unknown labels to 1, and ``False`` no longer counts them as negatives.

    Args:
        num_classes (int): the length C of ``gt_score``.
        unknown_key (str): the results key with the flagged labels' indices:
            ``'gt_label_difficult'`` for mmpretrain's ``VOC`` and for :class:`CocoMultiLabel`
            with ``crowd_as_unknown=True``.

    Required keys: ``gt_label``, ``unknown_key``. Added key: ``gt_score`` (float32, shape
    ``(C,)``).

    Example:
        >>> t = UnknownLabelsToScore(num_classes=4)
        >>> t(dict(gt_label=[0], gt_label_difficult=[0, 2]))['gt_score']
        array([ 1.,  0., -1.,  0.], dtype=float32)
    """

    def __init__(self, num_classes: int, unknown_key: str = 'gt_label_difficult') -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise TypeError(f'num_classes must be an int, got {num_classes!r}')
        if num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        if not isinstance(unknown_key, str) or not unknown_key:
            raise TypeError(f'unknown_key must be a non-empty str, got {unknown_key!r}')
        self.num_classes = num_classes
        self.unknown_key = unknown_key

    def transform(self, results: dict) -> Optional[dict]:
        """Adds ``results['gt_score']``."""
        for key in ('gt_label', self.unknown_key):
            if results.get(key) is None:
                raise KeyError(f'UnknownLabelsToScore needs {key!r} in the results, got the '
                               f'keys {sorted(results)}')
        positive = _as_indices(results['gt_label'], 'gt_label', self.num_classes)
        unknown = _as_indices(results[self.unknown_key], self.unknown_key, self.num_classes)
        score = np.zeros(self.num_classes, dtype=np.float32)
        score[unknown] = -1
        score[positive] = 1
        results['gt_score'] = score
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f"unknown_key='{self.unknown_key}')")
