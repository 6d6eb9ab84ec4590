"""The ASL hooks in real training runs (tools/train.py, tools/dist_train.sh), CPU, tiny.

AdaptiveAsymmetryHook (configs/atss_r50_asl_adaptive.py, with a large step so that gamma_neg
moves visibly in a few iterations): scalars.json holds the four scalars at every iteration and
gamma_neg follows the update from the logged gap; a run resumed from its iteration-2
checkpoint continues the uninterrupted run's gamma_neg sequence; 2 processes on gloo, each
with its own images, end with the same gamma_neg."""
import json
import os
import os.path as osp

import pytest
import torch

from asl_mmdet.demo import demo_config
from asl_mmdet.engine.hooks.adaptive_asymmetry_hook import CHECKPOINT_KEY
from tests.run_utils import ROOT, SMALL, dist_train, records_with, run_tool

pytestmark = pytest.mark.slow

KEYS = ('asl_p_pos', 'asl_p_neg', 'asl_delta_p', 'asl_gamma_neg')
TARGET, STEP, START = 0.1, 1.0, 2.0  # START: gamma_neg of configs/atss_r50_asl.py


def write_adaptive_config(data_root, work_dir, max_iters, imports=()):
    cfg = demo_config(osp.join(ROOT, 'configs', 'atss_r50_asl_adaptive.py'), data_root, work_dir,
                      max_iters, **SMALL)
    cfg.merge_from_dict(dict(
        custom_hooks=[dict(type='AdaptiveAsymmetryHook', target_gap=TARGET, step=STEP)],
        train_cfg=dict(val_interval=1000),  # no evaluation: these tests are about training
        default_hooks=dict(logger=dict(interval=1))))
    if imports:
        cfg.custom_imports = dict(imports=['asl_mmdet', *imports], allow_failed_imports=False)
    assert [hook['type'] for hook in cfg.custom_hooks] == ['AdaptiveAsymmetryHook']
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, f'adaptive_{max_iters}.py')
    cfg.dump(path)
    return path


def train_records(work_dir):
    return records_with(work_dir, 'loss')


def test_adaptive_gamma_logged_and_continued_on_resume(data_root, tmp_path):
    full = str(tmp_path / 'full')
    run_tool('tools/train.py', write_adaptive_config(data_root, full, 4), '--work-dir', full)
    records = train_records(full)
    assert [r['step'] for r in records] == [1, 2, 3, 4]
    for r in records:
        assert all(isinstance(r[key], float) for key in KEYS), r
        assert 0 < r['asl_p_pos'] < 1 and 0 < r['asl_p_neg'] < 1
        assert r['asl_delta_p'] == pytest.approx(r['asl_p_pos'] - r['asl_p_neg'], abs=1e-9)
    gammas = [r['asl_gamma_neg'] for r in records]
    assert gammas[0] == START
    for before, after in zip(records, records[1:]):  # the update, from the logged gap
        expected = max(0.0, before['asl_gamma_neg'] + STEP * (TARGET - before['asl_delta_p']))
        assert after['asl_gamma_neg'] == pytest.approx(expected, rel=1e-9)
    assert gammas[2] > START + 0.5  # Delta p is far below the target at the start

    interrupted = str(tmp_path / 'interrupted')
    run_tool('tools/train.py', write_adaptive_config(data_root, interrupted, 2), '--work-dir',
             interrupted)
    ckpt = torch.load(osp.join(interrupted, 'iter_2.pth'), map_location='cpu',
                      weights_only=False)
    assert ckpt[CHECKPOINT_KEY]['gamma_neg'] == pytest.approx(gammas[2], rel=1e-6)
    log = run_tool('tools/train.py', write_adaptive_config(data_root, interrupted, 4),
                   '--work-dir', interrupted, '--resume')
    assert 'resumed epoch: 0, iter: 2' in log
    resumed = train_records(interrupted)
    assert [r['step'] for r in resumed] == [1, 2, 3, 4]
    assert [r['asl_gamma_neg'] for r in resumed] == pytest.approx(gammas, rel=1e-6)


@pytest.mark.ddp
def test_dist_train_ranks_end_with_the_same_gamma(data_root, tmp_path):
    work_dir = str(tmp_path / 'ddp')
    cfg_path = write_adaptive_config(data_root, work_dir, 2,
                                     imports=['tests.test_tools.gamma_dump_hook'])
    with open(cfg_path, 'a') as f:
        f.write("custom_hooks.append(dict(type='ASLTestGammaDumpHook'))\n")
    dist_train(cfg_path, work_dir)
    ranks = []
    for rank in (0, 1):
        with open(osp.join(work_dir, f'gamma_rank{rank}.jsonl')) as f:
            ranks.append([json.loads(line) for line in f])
    iters = [[r for r in records if 'iter' in r] for records in ranks]
    assert [r['iter'] for r in iters[0]] == [r['iter'] for r in iters[1]] == [1, 2]
    for it0, it1 in zip(*iters):
        assert set(it0['img_ids']).isdisjoint(it1['img_ids'])  # each rank its own images
        assert it0['gamma_used'] == it1['gamma_used']
    # the local gaps differ, so only the all-reduced sums give the ranks one gamma_neg
    local_gaps = [[s[0] / s[1] - s[2] / s[3] for s in r['local_sums']] for r in iters[0] +
                  iters[1]]
    assert local_gaps[0] != pytest.approx(local_gaps[2], abs=1e-4)
    assert iters[0][0]['gamma_used'] == [START]
    assert iters[0][1]['gamma_used'][0] > START
    finals = [records[-1]['final_gamma'] for records in ranks]
    assert finals[0] == finals[1] and finals[0][0] > iters[0][1]['gamma_used'][0]
    # the logged value (rank 0) is the gamma_neg that both ranks used
    assert train_records(work_dir)[-1]['asl_gamma_neg'] == iters[0][1]['gamma_used'][0]
