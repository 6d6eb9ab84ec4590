"""asl_mmdet.analysis.coco_ap: COCO box AP recomputed for weighted image sets, against
pycocotools' own COCOeval (accumulate() + summarize()) on the full set and on datasets that
hold each image as many times as a resample drew it."""
import numpy as np
import pytest

from asl_mmdet.analysis.bootstrap import resample_counts
from asl_mmdet.analysis.coco_ap import AP_METRICS, ResampledCocoAP, evaluate_boxes
from tests.test_analysis.synthetic import cocoeval_stats, detections, ground_truth, replicate


@pytest.mark.parametrize('max_dets', [(100, 300, 1000), (1, 10, 100), (1, 3, 5)])
@pytest.mark.parametrize('seed', [0, 1])
def test_full_set_equals_cocoeval(max_dets, seed):
    coco = ground_truth(60, 5, seed)
    results = detections(coco, quality=0.5, seed=seed + 10)
    ap = ResampledCocoAP(evaluate_boxes(coco, results, max_dets=max_dets))
    full = ap(np.ones((1, 60)))
    stats = cocoeval_stats(coco, results, max_dets)
    for index, name in enumerate(AP_METRICS):
        assert full[name][0] == pytest.approx(stats[index], abs=1e-6), name
    # not a degenerate case: real APs, and (1, 3, 5) truncates (stats[0] is at 100: absent)
    assert 0.02 < stats[1] < 0.9
    assert (stats[0] == -1) == (100 not in max_dets)


def test_resamples_equal_cocoeval_on_replicated_images():
    coco = ground_truth(40, 4, seed=3)
    results = detections(coco, quality=0.5, seed=7)
    ap = ResampledCocoAP(evaluate_boxes(coco, results))
    counts = resample_counts(40, 4, seed=0)
    assert counts.max() >= 3  # images drawn several times, others not at all
    values = ap(counts)
    for row, count in enumerate(counts):
        stats = cocoeval_stats(*replicate(coco, results, count))
        for index, name in enumerate(AP_METRICS):
            assert values[name][row] == pytest.approx(stats[index], abs=1e-6), (row, name)


def test_a_resample_without_small_objects_reports_minus_one_as_cocoeval():
    coco = ground_truth(30, 3, seed=4)
    results = detections(coco, quality=0.5, seed=5)
    small = {a['image_id'] for a in coco.dataset['annotations'] if a['area'] < 32 ** 2}
    counts = np.array([[0 if i in small else 1 for i in coco.getImgIds()]])
    assert small and counts.sum() > 0
    values = ResampledCocoAP(evaluate_boxes(coco, results))(counts)
    stats = cocoeval_stats(*replicate(coco, results, counts[0]))
    assert values['bbox_mAP_s'][0] == stats[3] == -1
    assert values['bbox_mAP'][0] == pytest.approx(stats[0], abs=1e-6)


def test_argument_errors():
    coco = ground_truth(5, 2, seed=0)
    with pytest.raises(ValueError, match='results is empty'):
        evaluate_boxes(coco, [])
    with pytest.raises(ValueError, match='image ids missing'):
        evaluate_boxes(coco, [dict(image_id=99, category_id=1, bbox=[0, 0, 5, 5], score=1.)])
    ap = ResampledCocoAP(evaluate_boxes(coco, detections(coco, 0.5, seed=1)))
    with pytest.raises(ValueError, match=r'weights must have shape \(R, 5\)'):
        ap(np.ones((2, 4)))
