"""Each ASL config differs from its focal-loss sibling in model.bbox_head.loss_cls alone."""
import os.path as osp

import pytest
from mmengine.config import Config

import asl_mmdet  # noqa: F401  (registers ASLoss)
from mmdet.registry import MODELS

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs')
DETECTORS = ['atss', 'retinanet', 'fcos']


def flatten(node, prefix=''):
    """{'a.b.0.c': leaf, ...} for nested dicts and lists."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return {prefix: node}
    out = {}
    for key, value in items:
        out.update(flatten(value, f'{prefix}.{key}' if prefix else str(key)))
    return out


@pytest.mark.parametrize('detector', DETECTORS)
def test_only_loss_cls_differs(detector):
    asl = Config.fromfile(osp.join(CONFIGS, f'{detector}_r50_asl.py')).to_dict()
    focal = Config.fromfile(osp.join(CONFIGS, f'{detector}_r50_focal.py')).to_dict()
    flat_asl, flat_focal = flatten(asl), flatten(focal)
    differing = {key for key in flat_asl.keys() | flat_focal.keys()
                 if flat_asl.get(key, object()) != flat_focal.get(key, object())}
    assert differing, 'the siblings are identical'
    assert {key.rsplit('.', 1)[0] for key in differing} == {'model.bbox_head.loss_cls'}
    assert focal['model']['bbox_head']['loss_cls']['type'] == 'FocalLoss'
    loss_cfg = asl['model']['bbox_head']['loss_cls']
    assert loss_cfg['type'] == 'ASLoss' and 'gamma' not in loss_cfg  # _delete_ worked
    assert asl['custom_imports'] == dict(imports=['asl_mmdet'], allow_failed_imports=False)
    loss = MODELS.build(loss_cfg)
    assert type(loss).__module__ == 'asl_mmdet.models.losses.asymmetric_loss'
