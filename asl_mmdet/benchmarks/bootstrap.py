"""Time the paired bootstrap of tools/compare.py on synthetic detection and classification sets.

    python tools/benchmarks/bootstrap.py                          # 50 and 5000 images
    python tools/benchmarks/bootstrap.py --images 5000 --resamples 1000 --dets-per-image 100

Detection: a COCO-like set (80 categories, about 7 boxes per image of every size, 100 scored
detections per image from a noisy detector, as a COCO val2017 result file holds), matched once
with pycocotools (``evaluate()``, timed apart), then 1000 resamples of the images for two runs
(``ResampledCocoAP``: the six COCO AP metrics per resample). Classification: 80 classes,
multi-label scores, mmpretrain's mAP per resample. Prints one table row per task and set.
"""
import argparse
import contextlib
import io
import sys
from typing import List, Optional

import numpy as np
from pycocotools.coco import COCO

from ..analysis.bootstrap import paired_intervals, resample_counts
from ..analysis.coco_ap import ResampledCocoAP, evaluate_boxes
from ..analysis.multilabel_ap import resampled_map
from ..utils.tables import markdown_table
from .timing import time_ms

__all__ = ['synthetic_ground_truth', 'synthetic_detections', 'bootstrap_times', 'main']


def synthetic_ground_truth(num_images: int, num_classes: int, rng: np.random.Generator) -> COCO:
    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        images.append(dict(id=image_id, width=640, height=480))
        for _ in range(rng.poisson(7)):
            side = float(np.exp(rng.uniform(np.log(6), np.log(300))))
            w, h = side * rng.uniform(0.6, 1.4), side * rng.uniform(0.6, 1.4)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, iscrowd=int(rng.random() < 0.01),
                category_id=int(rng.integers(1, num_classes + 1)), area=w * h,
                bbox=[float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 480 - h)), w, h]))
    coco = COCO()
    coco.dataset = dict(images=images, annotations=annotations,
                        categories=[dict(id=c, name=f'c{c}') for c in range(1, num_classes + 1)])
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def synthetic_detections(coco: COCO, per_image: int, noise: float,
                         rng: np.random.Generator) -> list:
    num_classes = len(coco.getCatIds())
    results = []
    for image_id in coco.getImgIds():
        boxes = []
        for ann in coco.imgToAnns[image_id]:
            x, y, w, h = ann['bbox']
            for _ in range(rng.integers(1, 4)):  # a few overlapping detections per object
                jitter = rng.normal(0, noise, 4)
                boxes.append((ann['category_id'], [x + jitter[0] * w, y + jitter[1] * h,
                                                   w * np.exp(jitter[2]), h * np.exp(jitter[3])],
                              float(rng.uniform(0.2, 1.0))))
        while len(boxes) < per_image:  # background detections
            side = float(np.exp(rng.uniform(np.log(6), np.log(400))))
            boxes.append((int(rng.integers(1, num_classes + 1)),
                          [float(rng.uniform(0, 600)), float(rng.uniform(0, 450)), side, side],
                          float(rng.uniform(0.0, 0.6))))
        boxes.sort(key=lambda b: -b[2])
        results += [dict(image_id=image_id, category_id=c, bbox=b, score=s)
                    for c, b, s in boxes[:per_image]]
    return results


def _seconds(step) -> float:
    """Seconds of one call of ``step()``."""
    return time_ms(step, 'cpu')[0] / 1e3


def bootstrap_times(num_images: int, resamples: int, classes: int, dets_per_image: int,
                    seed: int) -> List[dict]:
    """The table rows of one set size: detection and classification."""
    rng = np.random.default_rng(seed)
    coco = synthetic_ground_truth(num_images, classes, rng)
    runs, match_s = [], 0.0
    for noise in (0.10, 0.12):
        results = synthetic_detections(coco, dets_per_image, noise, rng)
        evaluated = []
        match_s += _seconds(lambda: evaluated.append(evaluate_boxes(coco, results)))
        runs.append(ResampledCocoAP(evaluated[0]))
    counts = resample_counts(num_images, resamples, seed)
    full = np.ones((1, num_images))

    def detection():
        a, b = runs[0](counts), runs[1](counts)
        paired_intervals({k: runs[0](full)[k][0] for k in a}, a,
                         {k: runs[1](full)[k][0] for k in b}, b)

    scores = rng.random((num_images, classes))
    target = (rng.random((num_images, classes)) < 0.05).astype(np.int64)

    def classification():
        maps = [resampled_map(s, target, w) for s in (scores, scores + target * 0.1)
                for w in (counts, full)]
        paired_intervals(dict(mAP=maps[1][0]), dict(mAP=maps[0]), dict(mAP=maps[3][0]),
                         dict(mAP=maps[2]))

    return [
        {'task': 'detection', 'images': num_images, 'detections': len(results),
         'matching, 2 runs (s)': f'{match_s:.1f}',
         'bootstrap, 2 runs (s)': f'{_seconds(detection):.1f}'},
        {'task': 'classification', 'images': num_images, 'detections': '-',
         'matching, 2 runs (s)': '-', 'bootstrap, 2 runs (s)': f'{_seconds(classification):.1f}'},
    ]


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='Time the paired bootstrap')
    parser.add_argument('--images', type=int, nargs='+', default=[50, 5000])
    parser.add_argument('--resamples', type=int, default=1000)
    parser.add_argument('--dets-per-image', type=int, default=100)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    rows = []
    for num_images in args.images:
        print(f'timing {num_images} images ...', file=sys.stderr, flush=True)
        rows += bootstrap_times(num_images, args.resamples, args.classes, args.dets_per_image,
                                args.seed)
    print(markdown_table(rows, f'{args.resamples} resamples, {args.classes} classes, '
                               f'{args.dets_per_image} detections per image'))
    return 0
