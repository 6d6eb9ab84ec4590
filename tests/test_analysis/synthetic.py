"""Small COCO-format ground truth and detector outputs built in memory for the analysis tests,
the oracle's view of a bootstrap resample (a dataset holding each image as many times as the
resample drew it), and compare's report on in-memory scorers."""
import contextlib
import io
from typing import List, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from asl_mmdet.analysis.report import Comparison, compare_groups
from asl_mmdet.analysis.runs import Run, group_runs


def make_coco(images: List[dict], annotations: List[dict], categories: List[dict]) -> COCO:
    coco = COCO()
    coco.dataset = dict(images=images, annotations=annotations, categories=categories)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def ground_truth(num_images: int, num_classes: int, seed: int, crowd: float = 0.05,
                 size: int = 640) -> COCO:
    """Images with 0-6 boxes of every COCO area range, some of them crowd (ignored)."""
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        images.append(dict(id=image_id, width=size, height=size))
        for _ in range(rng.integers(0, 7)):
            side = float(np.exp(rng.uniform(np.log(8), np.log(400))))
            w, h = side * rng.uniform(0.6, 1.4), side * rng.uniform(0.6, 1.4)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, area=w * h,
                category_id=int(rng.integers(1, num_classes + 1)),
                bbox=[rng.uniform(0, size - w), rng.uniform(0, size - h), w, h],
                iscrowd=int(rng.random() < crowd)))
    categories = [dict(id=c, name=f'class {c}') for c in range(1, num_classes + 1)]
    return make_coco(images, annotations, categories)


def detections(coco: COCO, quality: float, seed: int, false_per_image: float = 5) -> List[dict]:
    """A detector's results: with ``quality`` near 1 it finds most objects, tightly, with
    the right class and high scores; false positives at lower scores."""
    rng = np.random.default_rng(seed)
    cats = coco.getCatIds()
    results = []
    for image_id in coco.getImgIds():
        for ann in coco.imgToAnns[image_id]:
            if rng.random() > 0.3 + 0.6 * quality:
                continue
            x, y, w, h = ann['bbox']
            noise = (1 - quality) * 0.3 + 0.02
            box = [x + rng.normal(0, noise) * w, y + rng.normal(0, noise) * h,
                   w * np.exp(rng.normal(0, noise)), h * np.exp(rng.normal(0, noise))]
            cat = (ann['category_id'] if rng.random() < 0.8 + 0.2 * quality else
                   int(rng.choice(cats)))
            results.append(dict(image_id=image_id, category_id=cat, bbox=box,
                                score=float(rng.uniform(0.3, 1.0) * (0.5 + quality))))
        for _ in range(rng.poisson(false_per_image)):
            side = float(np.exp(rng.uniform(np.log(8), np.log(400))))
            results.append(dict(image_id=image_id, category_id=int(rng.choice(cats)),
                                bbox=[rng.uniform(0, 600), rng.uniform(0, 600), side, side],
                                score=float(rng.uniform(0, 0.8))))
    return results


def replicate(coco: COCO, results: List[dict], counts: Sequence[int]):
    """The ground truth and results with image ``i`` held ``counts[i]`` times (new ids)."""
    images, annotations, replicated = [], [], []
    copies = {}
    for image_id, count in zip(coco.getImgIds(), counts):
        for _ in range(int(count)):
            new_id = len(images) + 1
            copies.setdefault(image_id, []).append(new_id)
            images.append(dict(coco.imgs[image_id], id=new_id))
            annotations += [dict(a, id=len(annotations) + 1 + n, image_id=new_id)
                            for n, a in enumerate(coco.imgToAnns[image_id])]
    for r in results:
        replicated += [dict(r, image_id=new_id, bbox=list(r['bbox']))
                       for new_id in copies.get(r['image_id'], [])]
    return make_coco(images, annotations, coco.dataset['categories']), replicated


def cocoeval_stats(coco: COCO, results: List[dict], max_dets=(100, 300, 1000)) -> np.ndarray:
    """pycocotools' own summary, as mmdet's CocoMetric runs it."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval = COCOeval(coco, coco.loadRes([dict(r) for r in results]), 'bbox')
        coco_eval.params.maxDets = list(max_dets)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval.stats


def compare_scorers(scorers: dict, resamples: int = 300, seed: int = 0) -> Comparison:
    """:func:`compare_groups` over runs named by ``scorers`` (run name -> scorer; names ending
    in ``_seed<N>`` are seeds of one config; the first config is the baseline)."""
    groups = group_runs([Run(f'/runs/{name}', name, [], []) for name in scorers])
    return compare_groups(groups, next(iter(groups)), scorers, resamples, seed)
