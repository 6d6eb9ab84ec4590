"""COCO box AP on resampled image sets, from one run of pycocotools' per-image matching.

pycocotools' ``COCOeval.evaluate()`` matches the detections of every (image, category, area
range) to the ground truth once; ``accumulate()`` then sorts the detections of each
(category, area, max detections) by score, builds the precision-recall curve and reads the
interpolated precision at the 101 recall thresholds; ``summarize()`` averages it. A bootstrap
resample of the validation images changes only how often each image counts, so
:class:`ResampledCocoAP` keeps the matching and redoes the accumulation for image weights
``w`` (R, N): an image drawn ``w_i`` times counts ``w_i`` times, exactly as if the dataset held
``w_i`` copies of it (the interpolated precision is the same whether the copies of a detection
are separate points of the curve or one point of weight ``w_i``). With every weight 1 it is
pycocotools' own AP.

Speed: the curve rises only at true positives, so the interpolated precision is read there;
the detections that are false positives at every IoU threshold (almost all of them) enter only
through their weighted count before each true positive (one cumulative sum); every step runs
on all resamples at once, and the cells on all cores.
"""
import contextlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

__all__ = ['AP_METRICS', 'evaluate_boxes', 'ResampledCocoAP']

# mmdet's CocoMetric names of pycocotools' stats[0:6]
AP_METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m',
              'bbox_mAP_l')
EPS = np.spacing(1)  # pycocotools' guard in the precision's denominator
ELEMENTS_PER_CHUNK = 4_000_000  # (resamples x detections) per array


def evaluate_boxes(coco_gt: COCO, results: Sequence[dict],
                   max_dets: Sequence[int] = (100, 300, 1000),
                   cat_ids: Optional[Sequence[int]] = None) -> COCOeval:
    """Run pycocotools' matching (``COCOeval.evaluate()``) of box results, as mmdet's
    ``CocoMetric`` sets it up.

    Args:
        coco_gt (COCO): the ground truth.
        results (list[dict]): COCO result records (``image_id``, ``category_id``, ``bbox`` as
            x, y, w, h, ``score``), e.g. ``CocoMetric(outfile_prefix=...)``'s ``.bbox.json``.
        max_dets (Sequence[int]): ``params.maxDets`` (mmdet's ``proposal_nums``).
        cat_ids (Sequence[int], optional): the evaluated categories (default: all of them).

    Returns:
        COCOeval: evaluated (``evalImgs`` set), not accumulated.

    Raises:
        ValueError: if ``results`` is empty or names an image the ground truth lacks.
    """
    if not results:
        raise ValueError('results is empty: no detection to evaluate')
    unknown = {r['image_id'] for r in results} - set(coco_gt.getImgIds())
    if unknown:
        raise ValueError(f'results name {len(unknown)} image ids missing from the ground truth, '
                         f'e.g. {sorted(unknown)[:3]}')
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        coco_eval = COCOeval(coco_gt, coco_dt, 'bbox')
        coco_eval.params.catIds = list(coco_gt.getCatIds() if cat_ids is None else cat_ids)
        coco_eval.params.imgIds = coco_gt.getImgIds()
        coco_eval.params.maxDets = list(max_dets)
        coco_eval.evaluate()
    return coco_eval


class _Block:
    """The sorted detections of one (category, area range, max detections) cell.

    ``special`` detections are those that are a true positive, or ignored, at some IoU
    threshold; the others are false positives at every threshold (``common``) or ignored at
    every threshold (dropped). The precision-recall curve rises only at true positives, so the
    interpolated precision is read at those: at each, the weighted count of true positives
    and of counted detections so far.
    """

    def __init__(self, evals: List[Tuple[int, dict]], max_det: int, num_images: int):
        scores = np.concatenate([e['dtScores'][:max_det] for _, e in evals])
        order = np.argsort(-scores, kind='mergesort')  # accumulate()'s sort
        image = np.concatenate([np.full(len(e['dtScores'][:max_det]), i) for i, e in evals])
        image = image[order].astype(np.int64)
        matches = np.concatenate([e['dtMatches'][:, :max_det] for _, e in evals], axis=1)
        ignore = np.concatenate([e['dtIgnore'][:, :max_det] for _, e in evals], axis=1)
        matched, ignore = matches[:, order] != 0, ignore[:, order].astype(bool)
        tps, fps = matched & ~ignore, ~matched & ~ignore
        self.num_gt = np.zeros(num_images)  # the not-ignored ground truth of each image
        for i, e in evals:
            self.num_gt[i] = np.count_nonzero(np.asarray(e['gtIgnore']) == 0)
        common = fps.all(axis=0)
        special = ~common & (tps | fps).any(axis=0)
        self.image = image[special]
        self.common_image = image[common]
        # the number of common false positives before each special detection
        before = np.cumsum(special) - special
        self.common_before = np.searchsorted(before[common], np.arange(special.sum()),
                                             side='right')
        tps, ignored = tps[:, special], ~(tps | fps)[:, special]
        # per IoU threshold: its true positives (special indices), and the special detections
        # it ignores (they leave the count of detections), if any
        self.true_positives = [np.flatnonzero(row) for row in tps]
        self.ignored = [row if row.any() else None for row in ignored]

    @property
    def size(self) -> int:
        return len(self.common_image) + len(self.image)

    def precision_sums(self, weights: np.ndarray, rec_thrs: np.ndarray
                       ) -> Tuple[np.ndarray, np.ndarray]:
        """Sum over the recall thresholds of the interpolated precision, per resample and IoU
        threshold (R, T), and whether the cell counts (has ground truth) per resample (R,).

        Args:
            weights (np.ndarray): (R, N) image weights.
            rec_thrs (np.ndarray): pycocotools' recall thresholds.
        """
        num_gt = weights @ self.num_gt
        sums = np.zeros((len(weights), len(self.true_positives)))
        if not len(self.image):
            return sums, num_gt > 0
        w_special = weights[:, self.image]  # (R, special)
        common = np.zeros((len(weights), len(self.common_image) + 1))
        np.cumsum(weights[:, self.common_image], axis=1, out=common[:, 1:])
        # the detections counted up to each special one (inclusive), before any is ignored
        counted = common[:, self.common_before] + np.cumsum(w_special, axis=1)
        gt_or_one = np.maximum(num_gt, 1.0)[:, None]  # no true positive where there is no gt
        for t, positions in enumerate(self.true_positives):
            if not len(positions):
                continue
            tp = np.cumsum(w_special[:, positions], axis=1)
            total = counted[:, positions]
            if self.ignored[t] is not None:
                total = total - np.cumsum(w_special * self.ignored[t], axis=1)[:, positions]
            precision = tp / (total + EPS)
            envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
            # accumulate() reads, at each recall threshold, the envelope at the first detection
            # whose recall reaches it; a true positive is that first one for the thresholds
            # between the previous one's recall and its own
            reached = np.searchsorted(rec_thrs, (tp / gt_or_one).ravel(), side='right')
            newly = np.diff(reached.reshape(tp.shape), axis=1, prepend=0)
            sums[:, t] = np.einsum('ij,ij->i', envelope, newly)
        return sums, num_gt > 0


class ResampledCocoAP:
    """pycocotools' box AP metrics (mmdet's ``bbox_mAP``, ``_50``, ``_75``, ``_s``, ``_m``,
    ``_l``) of an evaluated :class:`~pycocotools.cocoeval.COCOeval`, for weighted image sets.

    Args:
        coco_eval (COCOeval): after ``evaluate()`` (see :func:`evaluate_boxes`).
        num_threads (int, optional): threads for the (category, area) cells (default: the
            number of CPUs).

    Example:
        >>> ap = ResampledCocoAP(evaluate_boxes(coco_gt, results))
        >>> ap(np.ones((1, len(ap.image_ids))))['bbox_mAP']  # == COCOeval's stats[0]
    """

    def __init__(self, coco_eval: COCOeval, num_threads: Optional[int] = None):
        if not coco_eval.evalImgs:
            raise ValueError('coco_eval has no evalImgs: run evaluate() first')
        self.num_threads = num_threads or os.cpu_count() or 1
        p = coco_eval.params
        self.image_ids: List[int] = list(p.imgIds)
        self.rec_thrs = np.asarray(p.recThrs)
        self.iou_thrs = np.asarray(p.iouThrs)
        num_thr = len(p.iouThrs)
        # summarize()'s first six statistics: (name, IoU threshold indices, area, max dets)
        self.specs = []
        for name, iou, area, max_det in zip(
                AP_METRICS, (None, .5, .75, None, None, None),
                ('all', 'all', 'all', 'small', 'medium', 'large'),
                (100, ) + (p.maxDets[2], ) * 5):
            thr = np.arange(num_thr) if iou is None else np.where(iou == p.iouThrs)[0]
            self.specs.append((name, thr, p.areaRngLbl.index(area), max_det))
        num_images, num_areas = len(p.imgIds), len(p.areaRng)
        max_per_image = max((len(e['dtScores']) for e in coco_eval.evalImgs if e), default=0)
        self.blocks: Dict[Tuple[int, int], List[_Block]] = {}
        for _, _, area, max_det in self.specs:
            if max_det not in p.maxDets:
                continue
            key = (area, min(max_det, max_per_image))
            if key in self.blocks:
                continue
            cells = []
            for k in range(len(p.catIds)):
                first = (k * num_areas + area) * num_images
                evals = [(i, e) for i, e in enumerate(
                    coco_eval.evalImgs[first:first + num_images]) if e is not None]
                cells.append(_Block(evals, max_det, num_images) if evals else None)
            self.blocks[key] = cells
        self._key = {(area, max_det): (area, min(max_det, max_per_image))
                     for _, _, area, max_det in self.specs if max_det in p.maxDets}

    def __call__(self, weights: np.ndarray) -> Dict[str, np.ndarray]:
        """The AP metrics for each row of image weights.

        Args:
            weights (np.ndarray): (R, N) how often each image counts (N = ``len(image_ids)``,
                in that order); a bootstrap resample's counts, or ones for the full set.

        Returns:
            dict[str, np.ndarray]: per metric name, (R,) values (-1 where the resample holds
            no ground truth of the metric's area, as pycocotools reports).
        """
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim != 2 or weights.shape[1] != len(self.image_ids):
            raise ValueError(f'weights must have shape (R, {len(self.image_ids)}), '
                             f'got {weights.shape}')
        largest = max((c.size for cells in self.blocks.values() for c in cells if c), default=1)
        chunk = max(1, ELEMENTS_PER_CHUNK // max(1, largest))
        cells = [(key, k, cell) for key, row in self.blocks.items() for k, cell in enumerate(row)
                 if cell is not None]
        totals = {key: (np.zeros((len(weights), len(row), len(self.iou_thrs))),
                        np.zeros((len(weights), len(row)), dtype=bool))
                  for key, row in self.blocks.items() if any(c is not None for c in row)}
        # numpy releases the GIL in its array loops: the cells run on all cores
        with ThreadPoolExecutor(self.num_threads) as pool:
            for start in range(0, len(weights), chunk):
                rows = weights[start:start + chunk]
                results = pool.map(lambda c: c[2].precision_sums(rows, self.rec_thrs), cells)
                for (key, k, _), (sums, valid) in zip(cells, results):
                    totals[key][0][start:start + chunk, k] = sums * valid[:, None]
                    totals[key][1][start:start + chunk, k] = valid
        totals = {key: (sums, valid.sum(axis=1)) for key, (sums, valid) in totals.items()}
        out = {}
        for name, thr, area, max_det in self.specs:
            key = self._key.get((area, max_det))
            if key not in totals or len(thr) == 0:
                out[name] = np.full(len(weights), -1.0)
                continue
            sums, valid = totals[key]
            count = valid * len(thr) * len(self.rec_thrs)
            total = sums[:, :, thr].sum(axis=(1, 2))
            with np.errstate(divide='ignore', invalid='ignore'):
                out[name] = np.where(count > 0, total / count, -1.0)
        return out
