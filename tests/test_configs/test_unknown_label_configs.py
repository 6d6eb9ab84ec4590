"""The unknown-label configs: each is its parent with UnknownLabelsToScore before PackInputs in
the train pipeline (plus CocoMultiLabel's crowd_as_unknown, or the VOC metrics'
difficult_as_positive=None spelled out), and its train dataset, built on small synthetic
COCO / VOC directories, packs a gt_score with -1 for the crowd-only / difficult-only labels."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, TRANSFORMS

import asl_mmdet  # noqa: F401  (registers CocoMultiLabel and UnknownLabelsToScore)
from asl_mmdet.datasets import UnknownLabelsToScore
from asl_mmdet.datasets.synthetic_coco import generate_coco_detection
from tests.test_configs import flatten

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
UNKNOWN_CONFIGS = [
    ('resnet50_coco-ml_asl_crowd-unknown', 'resnet50_coco-ml_asl',
     {'train_dataloader.dataset.crowd_as_unknown'}),
    ('resnet50_voc07_asl_difficult-unknown', 'resnet50_voc07_asl',
     {f'val_evaluator.{i}.difficult_as_positive' for i in range(5)}
     | {f'test_evaluator.{i}.difficult_as_positive' for i in range(5)}),
]


def load(name):
    return Config.fromfile(osp.join(CONFIGS, f'{name}.py'))


@pytest.mark.parametrize('name, parent, other_keys', UNKNOWN_CONFIGS)
def test_parent_plus_the_transform(name, parent, other_keys):
    cfg, base = load(name), load(parent)
    pipeline = cfg.train_dataloader.dataset.pipeline
    base_pipeline = base.train_dataloader.dataset.pipeline
    transform = dict(type='UnknownLabelsToScore', num_classes=cfg.model.head.num_classes,
                     unknown_key='gt_label_difficult')
    assert pipeline == base_pipeline[:-1] + [transform] + base_pipeline[-1:]
    assert pipeline[-1]['type'] == 'PackInputs'
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert type(TRANSFORMS.build(pipeline[-2])) is UnknownLabelsToScore

    flat, flat_base = flatten(cfg.to_dict()), flatten(base.to_dict())
    differing = {key for key in flat.keys() | flat_base.keys()
                 if flat.get(key, object()) != flat_base.get(key, object())}
    pipeline_keys = {key for key in differing
                     if key.startswith('train_dataloader.dataset.pipeline.')}
    assert differing - pipeline_keys == other_keys
    for key in other_keys:
        assert flat[key] is (True if key.endswith('crowd_as_unknown') else None)


def build_train_dataset(cfg, data_root, **overrides):
    dataset_cfg = cfg.train_dataloader.dataset.copy()
    dataset_cfg.update(data_root=data_root, **overrides)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(dataset_cfg)


def test_coco_config_packs_minus_one_for_crowd_only_categories(tmp_path):
    root = str(tmp_path)
    generate_coco_detection(root, 'train', 2, seed=0, image_size=32, unlabelled_fraction=0.0)
    ann = osp.join(root, 'annotations', 'instances_train.json')
    with open(ann) as f:
        data = json.load(f)
    first = data['annotations'][0]
    first['iscrowd'] = 1
    with open(ann, 'w') as f:
        json.dump(data, f)
    cfg = load('resnet50_coco-ml_asl_crowd-unknown')
    # the synthetic data has 24 categories; the config's 80 are COCO's
    cfg.train_dataloader.dataset.pipeline[-2]['num_classes'] = len(data['categories'])
    dataset = build_train_dataset(cfg, root, ann_file='annotations/instances_train.json',
                                  data_prefix=dict(img_path='train/'))
    index = next(i for i in range(len(dataset))
                 if dataset.get_data_info(i)['img_path'].endswith(
                     next(img['file_name'] for img in data['images']
                          if img['id'] == first['image_id'])))
    sample = dataset[index]['data_samples']
    label = [cat['id'] for cat in data['categories']].index(first['category_id'])
    crowd_only = not any(a['category_id'] == first['category_id'] and not a['iscrowd']
                         for a in data['annotations'] if a['image_id'] == first['image_id'])
    assert crowd_only
    assert sample.gt_score[label] == -1
    assert torch.equal(sample.gt_score == 1,
                       torch.zeros_like(sample.gt_score, dtype=torch.bool).index_fill_(
                           0, sample.gt_label, True))


VOC_OBJECTS = {  # image id -> (class name, difficult)
    '000001': [('cat', 0), ('dog', 1), ('cat', 1)],  # cat: plain and difficult -> positive
    '000002': [('person', 1)],  # only difficult objects
}


def make_voc(root):
    for folder in ('JPEGImages', 'Annotations', osp.join('ImageSets', 'Main')):
        os.makedirs(osp.join(root, folder))
    for img_id, objects in VOC_OBJECTS.items():
        cv2.imwrite(osp.join(root, 'JPEGImages', f'{img_id}.jpg'),
                    np.full((24, 32, 3), 90, np.uint8))
        xml = ''.join(f'<object><name>{name}</name><difficult>{difficult}</difficult></object>'
                      for name, difficult in objects)
        with open(osp.join(root, 'Annotations', f'{img_id}.xml'), 'w') as f:
            f.write(f'<annotation>{xml}</annotation>')
    with open(osp.join(root, 'ImageSets', 'Main', 'trainval.txt'), 'w') as f:
        f.write('\n'.join(VOC_OBJECTS) + '\n')


def test_voc_config_packs_minus_one_for_difficult_only_labels(tmp_path):
    root = str(tmp_path)
    make_voc(root)
    dataset = build_train_dataset(load('resnet50_voc07_asl_difficult-unknown'), root)
    index_of = {name: i for i, name in enumerate(dataset.CLASSES)}
    expected = {'000001': {index_of['cat']: 1, index_of['dog']: -1},
                '000002': {index_of['person']: -1}}
    for i in range(len(dataset)):
        img_id = osp.splitext(osp.basename(dataset.get_data_info(i)['img_path']))[0]
        score = dataset[i]['data_samples'].gt_score
        assert score.shape == (20, )
        want = torch.zeros(20)
        for label, value in expected[img_id].items():
            want[label] = value
        torch.testing.assert_close(score, want, rtol=0, atol=0)
