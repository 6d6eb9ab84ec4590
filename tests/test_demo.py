"""asl_mmdet.demo: which overrides a config gets, the single-label demo's settings, and the
demos' defaults (several seeds, a calibration config in each)."""
import dataclasses
import os.path as osp

import pytest
from mmengine.config import Config

from asl_mmdet.datasets.synthetic_coco import CLASSES
from asl_mmdet.demo import DEMO_TASKS, demo_config, is_single_label
from tests.run_utils import ROOT


def config(name):
    return osp.join(ROOT, 'configs', f'{name}.py')


@pytest.mark.parametrize('name,single', [
    ('resnet50_cub_ce-ls', True), ('resnet50_cub_asl-single-label', True),
    ('resnet50_coco-ml_asl', False), ('resnet50_voc07_bce', False), ('atss_r50_asl', False)])
def test_single_label_configs_are_detected(name, single):
    assert is_single_label(Config.fromfile(config(name))) is single


@pytest.mark.parametrize('name', ['resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label'])
def test_single_label_overrides(name, tmp_path):
    cfg = demo_config(config(name), 'data/asl_demo', str(tmp_path), 100, depth=18)
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        dataset = loader.dataset
        assert (dataset.type, dataset.ann_file, dataset.data_prefix) == (
            'CustomDataset', f'{split}.txt', split)
        assert dataset.data_root == osp.join('data/asl_demo', 'single_label')
        assert 'split' not in dataset and dataset.metainfo.classes == CLASSES
    # the recipe's Resize 600 then 448 crop, scaled to 64 px crops
    assert [(t['type'], t.get('scale', t.get('crop_size')))
            for t in cfg.train_dataloader.dataset.pipeline[1:3]] == [('Resize', 86),
                                                                      ('RandomCrop', 64)]
    assert [(t['type'], t.get('scale', t.get('crop_size')))
            for t in cfg.val_dataloader.dataset.pipeline[1:3]] == [('Resize', 86),
                                                                    ('CenterCrop', 64)]
    head = cfg.model.head
    assert (head.num_classes, head.in_channels, cfg.model.backbone.depth) == (24, 512, 18)
    assert head.loss.get('num_classes', 24) == 24 and cfg.data_preprocessor.num_classes == 24
    assert cfg.model.backbone.init_cfg is None  # nothing is downloaded
    assert cfg.optim_wrapper.optimizer.type == 'SGD' and cfg.optim_wrapper.optimizer.lr == 0.05
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [
        ('LinearLR', 0, 20), ('CosineAnnealingLR', 20, 100)]
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=100, val_interval=100)
    assert [m['type'] for m in cfg.val_evaluator] == ['Accuracy', 'DumpResults']
    assert tuple(cfg.val_evaluator[0]['topk']) == (1, 5)
    assert 'ASLProbabilityHook' not in [h['type'] for h in cfg.get('custom_hooks', [])]


@pytest.mark.parametrize('name', ['resnet50_coco-ml_bce', 'resnet50_voc07_asl'])
def test_multi_label_demo_leaves_out_the_label_changing_augmentations(name, tmp_path):
    """The recipe's Cutout (half the side) and RandAugment (colour operations) change the
    labels of the demo's images, whose classes are colours x shapes: the demo trains without
    them, at its input scale, on a half-width ResNet-18."""
    cfg = demo_config(config(name), 'data/asl_demo', str(tmp_path), 100,
                      **dict(DEMO_TASKS['cls'].overrides, image_size=128))
    recipe = Config.fromfile(config(name)).train_dataloader.dataset.pipeline
    assert {'Cutout', 'RandAugment'} <= {t['type'] for t in recipe}
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        assert [(t['type'], t.get('scale')) for t in loader.dataset.pipeline] == [
            ('LoadImageFromFile', None), ('Resize', (128, 128)), ('PackInputs', None)]
    backbone = cfg.model.backbone
    assert (backbone.depth, backbone.stem_channels, backbone.base_channels) == (18, 32, 32)
    assert cfg.model.head.in_channels == 256 and cfg.model.head.num_classes == len(CLASSES)


def test_every_demo_trains_several_seeds():
    # one seed gets no verdict from tools/compare.py; the detection demo's five give the
    # calibration's Student-t interval 4 degrees of freedom
    assert {name: task.seeds for name, task in DEMO_TASKS.items()} == dict(det=5, cls=3,
                                                                          single=3)


@pytest.mark.parametrize('name, configs, loss_key, calibration_loss', [
    ('det', ('atss_r50_focal', 'atss_r50_asl_as_focal', 'atss_r50_asl'), 'bbox_head.loss_cls',
     # focal loss (MMDetection's: gamma 2, alpha 0.25)
     dict(type='ASLoss', gamma_pos=2.0, gamma_neg=2.0, clip=0.0, alpha=0.25)),
    ('cls', ('resnet50_coco-ml_bce', 'resnet50_coco-ml_asl_as_bce', 'resnet50_coco-ml_focal',
             'resnet50_coco-ml_asl'), 'head.loss',
     # binary cross-entropy
     dict(type='ASLoss', gamma_pos=0.0, gamma_neg=0.0, clip=0.0)),
    ('single', ('resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label_as_ce-ls',
                'resnet50_cub_asl-single-label'), 'head.loss',
     # label-smoothed cross-entropy
     dict(type='ASLSingleLabelLoss', gamma_pos=0.0, gamma_neg=0.0, label_smoothing=0.1)),
])
def test_every_demo_has_a_calibration(name, configs, loss_key, calibration_loss):
    """The baseline's loss computed by asl_mmdet, second after the baseline: its difference is
    the noise floor (tests/test_configs/test_sibling_configs.py checks the losses agree)."""
    task = DEMO_TASKS[name]
    assert task.configs == configs and task.calibration == configs[1]
    loss = Config.fromfile(config(task.calibration)).model
    for key in loss_key.split('.'):
        loss = loss[key]
    assert {key: loss[key] for key in calibration_loss} == calibration_loss


@pytest.mark.parametrize('changes, match', [
    (dict(validations=0), r'validations must be in \[1, iters=50\], got 0'),
    (dict(validations=51), r'validations must be in \[1, iters=50\], got 51'),
    (dict(validations=2, iters=0), r'validations must be in \[1, iters=0\], got 2'),
    (dict(calibration='atss_r50_focal'), 'calibration must be one of the configs after the '
     "baseline .*, got 'atss_r50_focal'"),
    (dict(calibration='atss_r50_asl_adaptive'), "got 'atss_r50_asl_adaptive'"),
])
def test_demo_task_errors(changes, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(DEMO_TASKS['det'], **dict(dict(iters=50), **changes))


@pytest.mark.parametrize('task', sorted(DEMO_TASKS))
def test_demo_task_val_interval_gives_its_evaluations(task):
    """MMEngine's IterBasedTrainLoop evaluates where the iteration is a multiple of
    val_interval and at the last one: the defaults get exactly their validations, other
    lengths at most as many, the last at the end."""
    def evaluations(task, iters):
        interval = task.val_interval(iters)
        return [i for i in range(1, iters + 1) if i % interval == 0 or i == iters]

    task = DEMO_TASKS[task]
    assert len(evaluations(task, task.iters)) == task.validations
    for iters in range(task.validations, 3 * task.validations + 8):
        found = evaluations(task, iters)
        assert len(found) <= task.validations and found[-1] == iters, (iters, found)
    with pytest.raises(ValueError, match='iters must be a positive int, got 0'):
        task.val_interval(0)


@pytest.mark.parametrize('task', sorted(DEMO_TASKS))
def test_demo_task_run_overrides(task):
    """A run of the task's own length gets its overrides as they are; a shorter one keeps every
    box at test time (the detection demo's 0.05 was measured on its own schedule); the rest of
    the overrides, and the task's own dict, never change."""
    task = DEMO_TASKS[task]
    before = dict(task.overrides)
    assert task.run_overrides(task.iters) == before
    assert task.run_overrides(task.iters + 1) == before
    short = task.run_overrides(task.iters - 1)
    expected = dict(before, score_thr=0.0) if 'score_thr' in before else before
    assert short == expected
    short['lr'] = -1
    assert task.overrides == before
    with pytest.raises(ValueError, match='iters must be a positive int, got 0'):
        task.run_overrides(0)


def test_detection_demo_score_threshold_by_run_length():
    assert DEMO_TASKS['det'].run_overrides(330)['score_thr'] == 0.05
    assert DEMO_TASKS['det'].run_overrides(2)['score_thr'] == 0.0


def test_detection_demo_runs_a_lighter_detector_that_builds(tmp_path):
    """The det demo's ATSS: a half-width ResNet-18 (32 base channels), the neck reads its
    stages, the head the neck's 64 channels, anchors of 4 strides, EMA weights evaluated; the
    model builds and maps a 128 px image to 24 class scores per anchor."""
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    task = DEMO_TASKS['det']
    cfg = demo_config(config(task.configs[0]), 'data/asl_demo', str(tmp_path), task.iters,
                      **task.overrides, image_size=task.image_size)
    model_cfg = cfg.model
    assert (model_cfg.backbone.depth, model_cfg.backbone.base_channels,
            model_cfg.backbone.init_cfg) == (18, 32, None)
    assert model_cfg.neck.in_channels == [32, 64, 128, 256] and model_cfg.neck.out_channels == 64
    head = model_cfg.bbox_head
    assert (head.in_channels, head.feat_channels, head.stacked_convs, head.num_classes) == (
        64, 64, 2, 24)
    # the config's other anchor settings stay: one anchor per location on strides 8 to 128
    assert head.anchor_generator == dict(type='AnchorGenerator', ratios=[1.0],
                                         octave_base_scale=4, scales_per_octave=1,
                                         strides=[8, 16, 32, 64, 128])
    assert cfg.train_dataloader.batch_size == 8 and cfg.optim_wrapper.optimizer.lr == 0.02
    assert cfg.train_dataloader.num_workers == cfg.val_dataloader.num_workers == 0
    assert model_cfg.test_cfg.score_thr == 0.05  # the COCO configs' own threshold
    assert [(h.type, h.get('momentum')) for h in cfg.custom_hooks] == [
        ('EMAHook', 0.05), ('ASLProbabilityHook', None)]
    register_all_modules(init_default_scope=False)  # leave the default scope to later tests
    model = MODELS.build(model_cfg)
    backbone_outs = model.backbone(torch.zeros(1, 3, 128, 128))
    assert [out.shape[1] for out in backbone_outs] == [32, 64, 128, 256]
    scores, _, _ = model._forward(torch.zeros(1, 3, 128, 128))
    assert [s.shape[1] for s in scores] == [24] * 5  # one anchor per location, 5 levels
    anchors = model.bbox_head.prior_generator.single_level_grid_priors((16, 16), 0, device='cpu')
    assert (anchors[:, 2] - anchors[:, 0]).unique().tolist() == [32.0]  # 4 strides of 8


def test_detection_demo_keeps_the_configs_hooks(tmp_path):
    """The EMA hook joins a config's own hooks (the adaptive config's AdaptiveAsymmetryHook),
    and sets the momentum of a config's own EMAHook instead of adding a second one."""
    cfg = demo_config(config('atss_r50_asl_adaptive'), 'data/asl_demo', str(tmp_path), 10,
                      depth=18, ema_momentum=0.1)
    assert [(h.type, h.get('momentum')) for h in cfg.custom_hooks] == [
        ('AdaptiveAsymmetryHook', None), ('EMAHook', 0.1)]
    from asl_mmdet.demo import with_ema
    ema = dict(type='EMAHook', momentum=3e-4, update_buffers=True)
    assert with_ema([ema], 0.05, add=True) == [dict(ema, momentum=0.05)]
    assert with_ema([dict(type='ASLProbabilityHook')], 0.05) == [dict(type='ASLProbabilityHook')]


@pytest.mark.parametrize('momentum', [0, 1.5, -0.1, '0.05'])
def test_ema_momentum_error(momentum):
    from asl_mmdet.demo import with_ema
    with pytest.raises(ValueError, match=rf'ema_momentum must be in \(0, 1\], got {momentum!r}'):
        with_ema([], momentum, add=True)


@pytest.mark.parametrize('kwargs, match', [
    (dict(depth=20), r'depth must be one of \[18, 34, 50, 101, 152\], got 20'),
    (dict(width=0), 'width must be a positive int or None, got 0'),
    (dict(stacked_convs=1.5), 'stacked_convs must be a positive int or None, got 1.5'),
    (dict(depth=18, base_channels=0), 'base_channels must be a positive int or None, got 0'),
    (dict(base_channels=32), 'base_channels=32 needs depth .*, got depth=None'),
    (dict(anchor_scale=0), 'anchor_scale must be a positive int or None, got 0'),
    (dict(score_thr=1.0), r'score_thr must be a number in \[0, 1\) or None, got 1.0'),
    (dict(score_thr=-0.1), r'score_thr must be a number in \[0, 1\) or None, got -0.1'),
    (dict(score_thr='0.05'), r"score_thr must be a number in \[0, 1\) or None, got '0.05'"),
])
def test_detector_overrides_errors(kwargs, match):
    from asl_mmdet.demo import detector_overrides
    with pytest.raises(ValueError, match=match):
        detector_overrides(**kwargs)


@pytest.mark.parametrize('score_thr, expected', [(0.0, 0.0), (0.05, 0.05), (None, 0.05)])
def test_detection_score_threshold(score_thr, expected, tmp_path):
    """Every box kept by default (a briefly trained detector scores below the COCO configs'
    0.05, and an evaluation without detections has no AP); None keeps the config's."""
    cfg = demo_config(config('atss_r50_focal'), 'data/asl_demo', str(tmp_path), 10,
                      score_thr=score_thr)
    assert cfg.model.test_cfg.score_thr == expected
    assert Config.fromfile(config('atss_r50_focal')).model.test_cfg.score_thr == 0.05


def test_classifier_depth_error():
    from asl_mmdet.demo import classifier_overrides
    with pytest.raises(ValueError, match=r'depth must be one of .*, got 10'):
        classifier_overrides(10)
