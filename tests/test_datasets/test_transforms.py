"""UnknownLabelsToScore: the dense gt_score (1 / 0 / -1) it builds, and where that vector goes
in mmpretrain: the multi-label head's loss target (crowd-only COCO categories arrive as -1), and
the metrics, which leave the -1 entries out (checked against a float64 AP written here)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpretrain.evaluation import (AveragePrecision, MultiLabelMetric, VOCAveragePrecision,
                                   VOCMultiLabelMetric)
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

from asl_mmdet.datasets import CocoMultiLabel, UnknownLabelsToScore
from asl_mmdet.datasets.synthetic_coco import generate_coco_detection
from asl_mmdet.models.losses import ASLoss
from tests.asl_oracle import asl_paper


@pytest.mark.parametrize('labels, unknown, expected', [
    ([0, 2], [], [1, 0, 1, 0, 0]),
    ([0], [0, 3], [1, 0, 0, -1, 0]),  # 0: a plain and a difficult object: stays positive
    ([], [4], [0, 0, 0, 0, -1]),
    (np.array([1]), torch.tensor([1, 2]), [0, 1, -1, 0, 0]),
])
def test_score_values(labels, unknown, expected):
    results = UnknownLabelsToScore(num_classes=5)(
        dict(gt_label=labels, gt_label_difficult=unknown))
    assert results['gt_score'].dtype == np.float32
    np.testing.assert_array_equal(results['gt_score'], expected)
    assert list(results['gt_label']) == list(labels)  # kept as it is


def test_registered_and_custom_key():
    # in mmpretrain's scope, whatever scope an earlier test left as the default
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        transform = TRANSFORMS.build(dict(type='UnknownLabelsToScore', num_classes=3,
                                          unknown_key='gt_label_crowd'))
    assert type(transform) is UnknownLabelsToScore
    out = transform(dict(gt_label=[2], gt_label_crowd=[0]))
    np.testing.assert_array_equal(out['gt_score'], [-1, 0, 1])
    assert repr(transform) == "UnknownLabelsToScore(num_classes=3, unknown_key='gt_label_crowd')"


def test_bad_arguments_and_results():
    with pytest.raises(TypeError, match='num_classes must be an int, got 2.0'):
        UnknownLabelsToScore(num_classes=2.0)
    with pytest.raises(ValueError, match='num_classes must be positive, got 0'):
        UnknownLabelsToScore(num_classes=0)
    with pytest.raises(TypeError, match="unknown_key must be a non-empty str, got ''"):
        UnknownLabelsToScore(num_classes=2, unknown_key='')
    transform = UnknownLabelsToScore(num_classes=3)
    with pytest.raises(KeyError, match="needs 'gt_label_difficult'"):
        transform(dict(gt_label=[0]))  # e.g. CocoMultiLabel without crowd_as_unknown
    with pytest.raises(ValueError, match=r'gt_label_difficult must hold class indices in '
                                         r'\[0, 3\), got \[3\]'):
        transform(dict(gt_label=[0], gt_label_difficult=[3]))


class RecordingLoss(ASLoss):
    """ASLoss that keeps what the head gives it."""

    def forward(self, cls_score, target, avg_factor=None):
        self.cls_score, self.target, self.avg_factor = cls_score, target, avg_factor
        return super().forward(cls_score, target, avg_factor=avg_factor)


def test_crowd_only_categories_reach_the_loss_as_minus_one_and_are_ignored(tmp_path):
    root = str(tmp_path)
    generate_coco_detection(root, 'train', 6, seed=3, image_size=32, unlabelled_fraction=0.0)
    ann = osp.join(root, 'annotations', 'instances_train.json')
    with open(ann) as f:
        data = json.load(f)
    data['annotations'][0]['iscrowd'] = 1
    with open(ann, 'w') as f:
        json.dump(data, f)
    num_classes = len(data['categories'])
    dataset = CocoMultiLabel(
        data_root=root, ann_file='annotations/instances_train.json',
        data_prefix=dict(img_path='train/'), crowd_as_unknown=True,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='UnknownLabelsToScore', num_classes=num_classes),
                  dict(type='PackInputs')])
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    loss = RecordingLoss()
    # built from the registry, after asl_mmdet (mmpretrain.models is imported after the plugin)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        # the classification configs' preprocessor (to_onehot=True) keeps the packed gt_score
        preprocessor = MODELS.build(dict(type='ClsDataPreprocessor', num_classes=num_classes,
                                         to_onehot=True))
        head = MODELS.build(dict(type='MultiLabelLinearClsHead', num_classes=num_classes,
                                 in_channels=4, loss=loss))
    samples = preprocessor(batch, training=True)['data_samples']
    losses = head.loss((torch.randn(len(samples), 4), ), samples)

    order = {cat['id']: i for i, cat in enumerate(data['categories'])}
    expected = torch.zeros(len(dataset), num_classes)
    for i in range(len(dataset)):
        image_id = next(img['id'] for img in data['images'] if
                        dataset.get_data_info(i)['img_path'].endswith(img['file_name']))
        anns = [a for a in data['annotations'] if a['image_id'] == image_id]
        for a in anns:  # crowds first, so that a plain object of the same category wins
            if a['iscrowd']:
                expected[i, order[a['category_id']]] = -1
        for a in anns:
            if not a['iscrowd']:
                expected[i, order[a['category_id']]] = 1
    assert (expected == -1).sum() == 1
    assert loss.target.shape == (len(dataset), num_classes)
    torch.testing.assert_close(loss.target, expected, rtol=0, atol=0)
    assert loss.avg_factor == len(dataset)
    # ASLoss leaves the unknown label out: Eq. 7 in float64 over the known labels only
    known = expected != -1
    elementwise = asl_paper(loss.cls_score.detach(), expected.clamp(min=0), 0.0, 4.0, 0.05)
    oracle = (elementwise * known).sum() / len(dataset)
    assert losses['loss'].item() == pytest.approx(oracle.item(), rel=1e-5)
    assert losses['loss'].item() != pytest.approx((elementwise.sum() / len(dataset)).item(),
                                                  rel=1e-5)


def average_precision_f64(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over classes of the AP (in %) of the entries with target 0 or 1: the mean, over the
    positives, of the precision at each positive's rank. Scores are assumed distinct."""
    aps = []
    for k in range(scores.shape[1]):
        keep = targets[:, k] != -1
        order = np.argsort(-scores[keep, k].astype(np.float64), kind='stable')
        hits = targets[keep, k][order] == 1
        precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
        aps.append(precision[hits].mean())
    return 100 * float(np.mean(aps))


@pytest.fixture
def unknown_samples():
    """Data samples as the val pipeline packs them (gt_label, gt_score with -1, and
    gt_label_difficult as meta), with predictions."""
    gen = np.random.default_rng(0)
    num, num_classes = 12, 4
    scores = gen.permutation(num * num_classes).reshape(num, num_classes) / (num * num_classes)
    targets = (gen.random((num, num_classes)) < 0.4).astype(np.int64)
    targets[0] = 1  # each class has a positive
    difficult_only = gen.random((num, num_classes)) < 0.25
    difficult_only[0] = False
    difficult_only[1, 2] = difficult_only[2, 1] = True
    targets[difficult_only] = -1
    to_score = UnknownLabelsToScore(num_classes=num_classes)
    samples = []
    for i in range(num):
        positive = np.flatnonzero(targets[i] == 1)
        # VOC: gt_label_difficult may repeat a positive label (a plain and a difficult object)
        difficult = np.flatnonzero(difficult_only[i]).tolist() + positive[:1].tolist()
        results = to_score(dict(gt_label=positive, gt_label_difficult=difficult))
        sample = DataSample().set_gt_label(positive).set_gt_score(results['gt_score'])
        sample.set_field(difficult, 'gt_label_difficult', field_type='metainfo')
        sample.set_pred_score(torch.from_numpy(scores[i]).float())
        samples.append(sample)
    return samples, scores, targets


def evaluate(metric, samples):
    metric.process(None, [s.to_dict() for s in samples])
    return metric.evaluate(len(samples))


def test_average_precision_leaves_unknown_labels_out(unknown_samples):
    samples, scores, targets = unknown_samples
    assert (targets == -1).any()
    expected = average_precision_f64(scores, targets)
    assert evaluate(AveragePrecision(), samples)['multi-label/mAP'] == pytest.approx(expected,
                                                                                    abs=1e-4)
    assert evaluate(VOCAveragePrecision(), samples)['multi-label/mAP'] == pytest.approx(
        expected, abs=1e-4)
    # the VOC metric reads gt_label_difficult itself: the same without the transform's gt_score
    without_score = [DataSample(metainfo=s.metainfo).set_gt_label(s.gt_label)
                     .set_pred_score(s.pred_score) for s in samples]
    assert evaluate(VOCAveragePrecision(difficult_as_positive=None),
                    without_score)['multi-label/mAP'] == pytest.approx(expected, abs=1e-4)
    # counting the unknown labels as negatives gives another value
    as_negative = np.where(targets == -1, 0, targets)
    assert average_precision_f64(scores, as_negative) != pytest.approx(expected, abs=1e-2)


def test_multilabel_metric_leaves_unknown_labels_out(unknown_samples):
    samples, scores, targets = unknown_samples
    keep = targets != -1
    predicted = scores >= 0.5
    assert (predicted & ~keep).any()  # else ignoring the unknown labels would change nothing
    tp = (predicted & (targets == 1) & keep).sum()
    precision = 100 * tp / (predicted & keep).sum()
    recall = 100 * tp / (targets == 1).sum()
    for metric in (MultiLabelMetric(average='micro'), VOCMultiLabelMetric(average='micro')):
        result = evaluate(metric, samples)
        assert result['multi-label/precision_micro'] == pytest.approx(precision, abs=1e-3)
        assert result['multi-label/recall_micro'] == pytest.approx(recall, abs=1e-3)
