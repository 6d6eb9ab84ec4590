"""tools/train.py, tools/test.py, tools/compare.py and tools/dist_train.sh on generated data, CPU.

Every ASL / focal config trains 2 iterations, logs the probability gap (ASLProbabilityHook, added
by demo_config) and runs its COCO evaluation (DINO's ASL config shrunk for the CPU); a checkpoint
reproduces the metrics reported at the end of training; --resume continues from the last
checkpoint; 2 processes train through torchrun (gloo)."""
import json
import os
import os.path as osp
import pickle

import pytest
import torch

from asl_mmdet.analysis.predictions import load_scorer
from asl_mmdet.demo import demo_config
from tests.run_utils import ROOT, SMALL, dist_train, records_with, run_tool

pytestmark = pytest.mark.slow

CONFIGS = [f'{d}_r50_{loss}' for d in ('atss', 'retinanet', 'fcos') for loss in ('asl', 'focal')]
CONFIGS.append('atss_r50_asl_as_focal')  # the demo's calibration
CONFIGS += ['atss_r50_fused-focal', 'retinanet_r50_fused-focal']  # FocalLoss's type changed
# DINO-4scale for the CPU: 30 queries, 1 encoder and 2 decoder layers, narrower FFNs, 20
# denoising queries, AdamW's own lr (the demo's 0.01 is SGD's)
DINO_SMALL = dict(
    model=dict(
        num_queries=30,
        encoder=dict(num_layers=1, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
        decoder=dict(num_layers=2, layer_cfg=dict(ffn_cfg=dict(feedforward_channels=256))),
        dn_cfg=dict(group_cfg=dict(num_dn_queries=20)),
        test_cfg=dict(max_per_img=30)),
    optim_wrapper=dict(optimizer=dict(lr=1e-4)))


def write_config(name, data_root, work_dir, max_iters, **overrides):
    cfg = demo_config(osp.join(ROOT, 'configs', f'{name}.py'), data_root, work_dir, max_iters,
                      **SMALL)
    cfg.merge_from_dict(overrides)
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, f'{name}_test.py')
    cfg.dump(path)
    return path


def val_records(work_dir, key='coco/bbox_mAP'):
    return records_with(work_dir, key)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_trains_and_evaluates(name, data_root, tmp_path):
    work_dir = str(tmp_path / name)
    cfg_path = write_config(name, data_root, work_dir, max_iters=2)
    log = run_tool('tools/train.py', cfg_path, '--work-dir', work_dir)
    assert ('ASLoss' in log) == ('_asl' in name)
    assert ('FusedFocalLoss' in log) == ('fused-focal' in name)
    records = val_records(work_dir)
    assert len(records) == 1 and records[0]['step'] == 2
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m',
                'bbox_mAP_l'):
        assert f'coco/{key}' in records[0]
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))
    # the probability analysis, for ASLoss and for FocalLoss alike (its gamma as gamma_neg)
    (train, ) = val_records(work_dir, key='loss')
    assert 0 < train['asl_p_pos'] < 1 and 0 < train['asl_p_neg'] < 1
    assert train['asl_delta_p'] == pytest.approx(train['asl_p_pos'] - train['asl_p_neg'])
    assert train['asl_gamma_neg'] == 2.0  # focal loss's gamma, and the ASL configs' gamma_neg


def test_dino_trains_with_asl_and_logs_probability_gap(data_root, tmp_path):
    """DINO's head with ASLoss (configs/dino-4scale_r50_asl.py, shrunk): 2 iterations, the
    probability gap over every classification call of the head (the decoder layers' matched
    queries, the encoder's proposals, the denoising queries), and its COCO evaluation."""
    name = 'dino-4scale_r50_asl'
    work_dir = str(tmp_path / name)
    cfg_path = write_config(name, data_root, work_dir, max_iters=2, **DINO_SMALL)
    log = run_tool('tools/train.py', cfg_path, '--work-dir', work_dir)
    assert 'DINOHead' in log and 'ASLoss' in log
    (train, ) = val_records(work_dir, key='loss')
    for key in ('loss_cls', 'd0.loss_cls', 'enc_loss_cls', 'dn_loss_cls', 'd0.dn_loss_cls'):
        assert 0 < train[key] < 100, key
    assert 0 < train['asl_p_pos'] < 1 and 0 < train['asl_p_neg'] < 1
    assert train['asl_delta_p'] == pytest.approx(train['asl_p_pos'] - train['asl_p_neg'])
    assert train['asl_gamma_neg'] == 2.0
    (evaluation, ) = val_records(work_dir)
    assert evaluation['step'] == 2 and 'coco/bbox_mAP_50' in evaluation


def test_checkpoint_reproduces_metrics_and_resume_continues(data_root, tmp_path):
    name = 'atss_r50_asl'
    work_dir = str(tmp_path / 'run')
    cfg_path = write_config(name, data_root, work_dir, max_iters=2)
    run_tool('tools/train.py', cfg_path, '--work-dir', work_dir)
    trained = val_records(work_dir)[-1]

    out = str(tmp_path / 'preds.pkl')
    test_dir = str(tmp_path / 'test')
    log = run_tool('tools/test.py', cfg_path, osp.join(work_dir, 'iter_2.pth'), '--work-dir',
                   test_dir, '--out', out, '--keep-predictions')
    for key in ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75'):
        assert f'coco/{key}: {trained["coco/" + key]:.4f}' in log
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 3 and len(preds[0]['pred_instances']['scores']) > 0
    # --keep-predictions: CocoMetric's results json, every kept detection of the 3 images
    with open(osp.join(test_dir, 'predictions', 'test.bbox.json')) as f:
        kept = json.load(f)
    assert len(kept) == sum(len(p['pred_instances']['scores']) for p in preds)

    # --resume (auto: the latest checkpoint) with a longer schedule continues at iteration 3
    longer = write_config(name, data_root, work_dir, max_iters=4)
    log = run_tool('tools/train.py', longer, '--work-dir', work_dir, '--resume')
    assert 'resumed epoch: 0, iter: 2' in log
    assert osp.exists(osp.join(work_dir, 'iter_4.pth'))
    ckpt = torch.load(osp.join(work_dir, 'iter_4.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 4 and ckpt['optimizer']['state']
    assert [r['step'] for r in val_records(work_dir)] == [2, 4]


def test_compare_prints_table_and_writes_png(data_root, tmp_path):
    work_dirs = []
    for name in ('atss_r50_focal', 'atss_r50_asl'):
        work_dir = str(tmp_path / name)
        run_tool('tools/train.py', write_config(name, data_root, work_dir, max_iters=2),
                 '--work-dir', work_dir)
        work_dirs.append(work_dir)
    png = str(tmp_path / 'compare.png')
    out = run_tool('tools/compare.py', *work_dirs, '--out', png)
    header = out.splitlines()[0]
    for column in ('run', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 's/iter', 'mem (MB)'):
        assert f' {column} ' in header
    assert 'atss_r50_focal' in out and 'atss_r50_asl' in out
    # the predictions every evaluation kept give back the AP mmdet's CocoMetric logged, and
    # the paired bootstrap against the first run (one seed: no verdict)
    for work_dir in work_dirs:
        full = load_scorer(work_dir).full()
        for key, value in val_records(work_dir)[-1].items():
            if key.startswith('coco/bbox_mAP'):
                assert full[key[len('coco/'):]] == pytest.approx(value, abs=5e-4), key
    assert 'atss_r50_asl: one seed: paired bootstrap interval over the 3 validation images ' \
           '(1000 resamples, seed 0)' in out
    assert any(line.startswith('| atss_r50_asl | AP ') and
               line.endswith('| none: one seed, training noise not measured |')
               for line in out.splitlines())
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert osp.getsize(png) > 10_000


@pytest.mark.ddp
def test_dist_train_two_processes_gloo(data_root, tmp_path):
    work_dir = str(tmp_path / 'ddp')
    cfg_path = write_config('atss_r50_asl', data_root, work_dir, max_iters=2)
    log = dist_train(cfg_path, work_dir)
    assert 'GPU number: 2' in log  # world size
    assert osp.exists(osp.join(work_dir, 'iter_2.pth'))
