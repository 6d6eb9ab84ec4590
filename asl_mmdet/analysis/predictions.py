"""Per-image predictions kept next to a run's logs, and their metrics on resampled image sets.

:func:`keep_predictions` makes a config's evaluator write what it scored: MMDetection's
``CocoMetric`` its ``outfile_prefix + '.bbox.json'`` (COCO result records), an mmpretrain
evaluator MMEngine's ``DumpResults`` pickle (each image's ``pred_score`` and labels). Every
evaluation overwrites the file, so it holds the last evaluation's predictions, the one whose
metrics ``scalars.json`` logs last. :func:`load_scorer` finds them from the run's config (the
``<timestamp>/vis_data/config.py`` MMEngine writes) and returns a scorer: the run's metrics
for image weights (R, N), from :class:`~asl_mmdet.analysis.coco_ap.ResampledCocoAP`,
:func:`~asl_mmdet.analysis.multilabel_ap.resampled_map` (multi-label) or
:func:`~asl_mmdet.analysis.accuracy.resampled_accuracy` (single-label: the config evaluates
mmpretrain's ``Accuracy``).
"""
import glob
import json
import os.path as osp
import pickle
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

__all__ = ['PREDICTIONS_DIR', 'keep_predictions', 'predictions_file', 'Scorer', 'load_scorer']

PREDICTIONS_DIR = 'predictions'


def _metrics(evaluator) -> list:
    return list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]


def keep_predictions(cfg, out_dir: str, evaluator: str = 'val_evaluator',
                     name: str = 'val') -> str:
    """Make ``cfg[evaluator]`` keep the per-image predictions it scores, under ``out_dir``.

    Args:
        cfg (mmengine.Config): a detection config (a ``CocoMetric`` evaluator) or an
            mmpretrain one (``default_scope='mmpretrain'``).
        out_dir (str): the directory of the file (made absolute).
        evaluator (str): ``'val_evaluator'`` or ``'test_evaluator'``.
        name (str): the file name: ``NAME.bbox.json`` (detection) or ``NAME.pkl``.

    Returns:
        str: the path of the file the evaluations will write.

    Raises:
        ValueError: if a detection evaluator has no ``CocoMetric``.
    """
    prefix = osp.join(osp.abspath(out_dir), name)
    metrics = [dict(m) for m in _metrics(cfg[evaluator])]
    if cfg.get('default_scope') == 'mmpretrain':
        path = prefix + '.pkl'
        metrics = [m for m in metrics if m['type'] != 'DumpResults']
        metrics.append(dict(type='DumpResults', out_file_path=path))
        cfg[evaluator] = metrics
        return path
    coco = [m for m in metrics if m['type'] == 'CocoMetric']
    if not coco:
        raise ValueError(f'{evaluator} has no CocoMetric: got '
                         f'{[m["type"] for m in metrics]}')
    coco[0]['outfile_prefix'] = prefix
    cfg[evaluator] = metrics if isinstance(cfg[evaluator], (list, tuple)) else metrics[0]
    return prefix + '.bbox.json'


def _run_config(work_dir: str):
    """The config of the last run in ``work_dir`` (None if MMEngine wrote none)."""
    from mmengine.config import Config

    configs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'config.py')))
    return Config.fromfile(configs[-1], import_custom_modules=False) if configs else None


def predictions_file(work_dir: str) -> Optional[dict]:
    """Where the last run in ``work_dir`` kept its validation predictions.

    Returns:
        dict, optional: ``dict(kind='detection', path=..., ann_file=..., max_dets=...)``,
        ``dict(kind='classification', path=...)`` (multi-label) or
        ``dict(kind='single-label', path=..., topk=...)`` (mmpretrain's ``Accuracy``); None if
        the run's config keeps none or the work dir holds no config.
    """
    cfg = _run_config(work_dir)
    if cfg is None:
        return None
    metrics = _metrics(cfg.get('val_evaluator', []))
    accuracy = next((m for m in metrics if m['type'] == 'Accuracy'), None)
    for metric in metrics:
        if metric['type'] == 'CocoMetric' and metric.get('outfile_prefix'):
            return dict(kind='detection', path=metric['outfile_prefix'] + '.bbox.json',
                        ann_file=metric['ann_file'],
                        max_dets=tuple(metric.get('proposal_nums', (100, 300, 1000))))
        if metric['type'] == 'DumpResults' and accuracy is not None:
            topk = accuracy.get('topk', (1, ))
            return dict(kind='single-label', path=metric['out_file_path'],
                        topk=tuple(topk) if isinstance(topk, (list, tuple)) else (topk, ))
        if metric['type'] == 'DumpResults':
            return dict(kind='classification', path=metric['out_file_path'])
    return None


class Scorer:
    """A run's metrics on weighted image sets.

    Attributes:
        kind (str): ``'detection'``, ``'classification'`` (multi-label) or
            ``'single-label'``.
        image_keys (list): the validation images, in the column order of the weights.
        metrics (Callable): ``weights (R, N) -> {metric: (R,) values}``; detection: mmdet's
            ``bbox_mAP``, ``bbox_mAP_50``, ... (fractions), classification: ``mAP``,
            single-label: ``top1``, ``top5``, ... (percent), as the logs name them.
        path (str): the predictions file.
    """

    def __init__(self, kind: str, image_keys: List, metrics: Callable, path: str):
        self.kind, self.image_keys, self.metrics, self.path = kind, image_keys, metrics, path

    def full(self) -> Dict[str, float]:
        """The metrics on the full set (every weight 1)."""
        return {k: float(v[0]) for k, v in
                self.metrics(np.ones((1, len(self.image_keys)))).items()}


def _detection_scorer(path: str, ann_file: str, max_dets) -> Scorer:
    import contextlib
    import io

    from pycocotools.coco import COCO

    from .coco_ap import ResampledCocoAP, evaluate_boxes

    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file {ann_file!r} of {path!r} not found')
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(ann_file)
    with open(path) as f:
        results = json.load(f)
    ap = ResampledCocoAP(evaluate_boxes(coco_gt, results, max_dets=max_dets))
    return Scorer('detection', ap.image_ids, ap, path)


def _ordered_predictions(path: str) -> Tuple[List[dict], np.ndarray, List]:
    """The kept samples in the scorers' column order (sorted by image key), their (N, C)
    scores and their image keys."""
    with open(path, 'rb') as f:
        samples = pickle.load(f)
    if not samples:
        raise ValueError(f'{path!r} holds no predictions')
    keys = [s.get('img_path', s.get('sample_idx', i)) for i, s in enumerate(samples)]
    order = sorted(range(len(keys)), key=lambda i: str(keys[i]))
    samples = [samples[i] for i in order]
    scores = np.stack([np.asarray(s['pred_score'], dtype=np.float64) for s in samples])
    return samples, scores, [keys[i] for i in order]


def _single_label_scorer(path: str, topk) -> Scorer:
    from .accuracy import resampled_accuracy

    samples, scores, keys = _ordered_predictions(path)
    labels = np.array([int(np.asarray(s['gt_label']).reshape(-1)[0]) for s in samples])
    return Scorer('single-label', keys, lambda w: resampled_accuracy(scores, labels, w, topk),
                  path)


def _classification_scorer(path: str) -> Scorer:
    from .multilabel_ap import resampled_map

    samples, scores, keys = _ordered_predictions(path)
    target = np.zeros(scores.shape, dtype=np.int64)
    for row, sample in zip(target, samples):
        if 'gt_score' in sample:  # AveragePrecision's rule: 1 positive, -1 left out
            score = np.asarray(sample['gt_score'])
            row[:] = np.where(score > -1, score == 1, -1)
        else:
            row[np.asarray(sample['gt_label'], dtype=np.int64)] = 1
        if 'gt_label_difficult' in sample:  # VOC: left out, as VOCAveragePrecision does
            row[np.asarray(sample['gt_label_difficult'], dtype=np.int64)] = -1
    return Scorer('classification', keys, lambda w: dict(mAP=resampled_map(scores, target, w)),
                  path)


def load_scorer(work_dir: str) -> Optional[Scorer]:
    """The scorer of the predictions the last run in ``work_dir`` kept, or None.

    Raises:
        FileNotFoundError: if the config names a predictions or annotation file that is not
            there.
    """
    found = predictions_file(work_dir)
    if found is None:
        return None
    if not osp.isfile(found['path']):
        raise FileNotFoundError(f'work dir {work_dir!r}: predictions file {found["path"]!r} '
                                'named by its config not found')
    if found['kind'] == 'detection':
        return _detection_scorer(found['path'], found['ann_file'], found['max_dets'])
    if found['kind'] == 'single-label':
        return _single_label_scorer(found['path'], found['topk'])
    return _classification_scorer(found['path'])
