"""Time the paired bootstrap of tools/compare.py on synthetic detection and classification sets.

    python tools/benchmarks/bootstrap.py                          # 50 and 5000 images
    python tools/benchmarks/bootstrap.py --images 5000 --resamples 1000 --dets-per-image 100

Detection: a COCO-like set (80 categories, about 7 boxes per image of every size, 100 scored
detections per image from a noisy detector, as a COCO val2017 result file holds), matched once
with pycocotools (``evaluate()``, timed apart), then 1000 resamples of the images for two runs
(``ResampledCocoAP``: the six COCO AP metrics per resample). Classification: 80 classes,
multi-label scores, mmpretrain's mAP per resample. Prints one table row per set.
"""
import argparse
import contextlib
import io
import time

import numpy as np
from pycocotools.coco import COCO

from asl_mmdet.analysis.bootstrap import paired_intervals, resample_counts
from asl_mmdet.analysis.coco_ap import ResampledCocoAP, evaluate_boxes
from asl_mmdet.analysis.multilabel_ap import resampled_map


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


def main() -> None:
    parser = argparse.ArgumentParser(description='Time the paired bootstrap')
    parser.add_argument('--images', type=int, nargs='+', default=[50, 5000])
    parser.add_argument('--resamples', type=int, default=1000)
    parser.add_argument('--dets-per-image', type=int, default=100)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    print(f'{args.resamples} resamples, {args.classes} classes, '
          f'{args.dets_per_image} detections per image')
    print('| task | images | detections | matching, 2 runs (s) | bootstrap, 2 runs (s) |')
    print('|---|---|---|---|---|')
    for num_images in args.images:
        rng = np.random.default_rng(args.seed)
        coco = synthetic_ground_truth(num_images, args.classes, rng)
        runs, match_s = [], 0.0
        for noise in (0.10, 0.12):
            results = synthetic_detections(coco, args.dets_per_image, noise, rng)
            start = time.perf_counter()
            coco_eval = evaluate_boxes(coco, results)
            match_s += time.perf_counter() - start
            runs.append(ResampledCocoAP(coco_eval))
        start = time.perf_counter()
        counts = resample_counts(num_images, args.resamples, args.seed)
        full = np.ones((1, num_images))
        a, b = runs[0](counts), runs[1](counts)
        paired_intervals({k: runs[0](full)[k][0] for k in a}, a,
                         {k: runs[1](full)[k][0] for k in b}, b)
        boot_s = time.perf_counter() - start
        print(f'| detection | {num_images} | {len(results)} | {match_s:.1f} | {boot_s:.1f} |',
              flush=True)

        scores = rng.random((num_images, args.classes))
        target = (rng.random((num_images, args.classes)) < 0.05).astype(np.int64)
        start = time.perf_counter()
        map_a = resampled_map(scores, target, counts)
        map_b = resampled_map(scores + target * 0.1, target, counts)
        full_a = resampled_map(scores, target, full)[0]
        full_b = resampled_map(scores + target * 0.1, target, full)[0]
        paired_intervals(dict(mAP=full_a), dict(mAP=map_a), dict(mAP=full_b), dict(mAP=map_b))
        print(f'| classification | {num_images} | - | - | '
              f'{time.perf_counter() - start:.1f} |', flush=True)


if __name__ == '__main__':
    main()
