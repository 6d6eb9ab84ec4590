"""CocoMultiLabel: image-level labels from a COCO instances json, checked against the json."""
import json
import os.path as osp

import pytest

from asl_mmdet.datasets import CocoMultiLabel
from asl_mmdet.datasets.synthetic_coco import CLASSES, generate_coco_detection


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('coco_ml'))
    generate_coco_detection(root, 'train', 12, seed=3, image_size=64, unlabelled_fraction=0.5)
    ann = osp.join(root, 'annotations', 'instances_train.json')
    with open(ann) as f:
        data = json.load(f)
    # COCO-like twists: category ids not contiguous, a crowd annotation, an image with no object
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 2]
    for cat in data['categories']:
        cat['id'] *= 3
    for item in data['annotations']:
        item['category_id'] *= 3
    data['annotations'][0]['iscrowd'] = 1
    with open(ann, 'w') as f:
        json.dump(data, f)
    return root, data


def expected_labels(data, keep_empty):
    order = {cat['id']: i for i, cat in enumerate(data['categories'])}
    labels = {img['id']: set() for img in data['images']}
    for item in data['annotations']:
        labels[item['image_id']].add(order[item['category_id']])
    names = {img['id']: img['file_name'] for img in data['images']}
    return {names[i]: sorted(v) for i, v in labels.items() if v or keep_empty}


@pytest.mark.parametrize('keep_empty', [False, True])
def test_labels_match_the_json(coco_root, keep_empty):
    root, data = coco_root
    dataset = CocoMultiLabel(data_root=root, ann_file='annotations/instances_train.json',
                             data_prefix=dict(img_path='train/'), keep_empty=keep_empty)
    expected = expected_labels(data, keep_empty)
    assert len(expected) == (12 if keep_empty else 11)
    got = {osp.basename(dataset.get_data_info(i)['img_path']):
           list(dataset.get_data_info(i)['gt_label']) for i in range(len(dataset))}
    assert got == expected
    assert dataset.CLASSES == CLASSES
    assert all(osp.exists(dataset.get_data_info(i)['img_path']) for i in range(len(dataset)))


def test_bad_arguments(coco_root):
    root, _ = coco_root
    with pytest.raises(TypeError, match="keep_empty must be a bool, got 'yes'"):
        CocoMultiLabel(data_root=root, ann_file='annotations/instances_train.json',
                       keep_empty='yes')
    with pytest.raises(ValueError, match='metainfo classes has 2 names'):
        CocoMultiLabel(data_root=root, ann_file='annotations/instances_train.json',
                       metainfo=dict(classes=('a', 'b')))
