"""tools/compare.py as a user runs it, on work dirs written here (MMEngine's layout: scalars,
the run's config, the predictions its CocoMetric kept): runs with the same last name, one seed
(an interval over the images, no verdict, and the wording that says why), seeds grouped by
config and paired (a verdict on AP, the others descriptive, the calibration's noise floor),
clear one-line errors."""
import json
import os
import os.path as osp
import statistics
import subprocess
import sys

import numpy as np
import pytest

from tests.test_analysis.synthetic import cocoeval_stats, detections, ground_truth
from tests.run_utils import ENV, ROOT, run_tool, write_scalars

METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l')


def write_run(work_dir, ann_file=None, results=None, times=(2.0, 1.0, 1.2), ap=None):
    """A work dir as a training run with CocoMetric(outfile_prefix=...) leaves it."""
    records = [dict(loss=1.0 / (i + 1), loss_cls=0.5 / (i + 1), time=t, iter=10 * (i + 1),
                    step=10 * (i + 1)) for i, t in enumerate(times)]
    records.append(dict({f'coco/{m}': round(float(v), 3) for m, v in zip(METRICS, ap)},
                        step=10 * len(times)))
    vis = osp.dirname(write_scalars(work_dir, '20260101_000000', records))
    evaluator = dict(type='CocoMetric', ann_file=ann_file, metric='bbox')
    if results is not None:
        prefix = osp.join(work_dir, 'predictions', 'val')
        os.makedirs(osp.dirname(prefix))
        with open(prefix + '.bbox.json', 'w') as f:
            json.dump(results, f)
        evaluator['outfile_prefix'] = prefix
    with open(osp.join(vis, 'config.py'), 'w') as f:
        f.write(f'val_evaluator = {evaluator!r}\n')
    return work_dir


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    """The ground truth; three weak models and three strong ones (the ground truth's boxes
    scored high above a weak model's), their detections and COCO stats."""
    root = tmp_path_factory.mktemp('gt')
    coco = ground_truth(60, 4, seed=0, crowd=0.0)
    ann_file = str(root / 'instances_val.json')
    with open(ann_file, 'w') as f:
        json.dump(coco.dataset, f)
    weak = [detections(coco, quality=0.2, seed=1 + k) for k in range(3)]
    strong = [[dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                    score=0.99) for a in coco.dataset['annotations']] + w for w in weak]
    return dict(ann_file=ann_file, weak=weak, strong=strong,
                weak_ap=[cocoeval_stats(coco, w) for w in weak],
                strong_ap=[cocoeval_stats(coco, s) for s in strong])


def tables(out):
    """The markdown tables of the output: lists of rows (lists of cells), header first."""
    found, current = [], None
    for line in out.splitlines():
        if line.startswith('|'):
            if current is None:
                current = []
                found.append(current)
            if not line.startswith('|-'):
                current.append([c.strip() for c in line.strip('|').split('|')])
        else:
            current = None
    return found


def test_work_dirs_with_the_same_last_name_are_both_reported(dataset, tmp_path):
    # before: both were named 'run' and one silently replaced the other
    a = write_run(str(tmp_path / 'a' / 'run'), dataset['ann_file'], ap=dataset['weak_ap'][0])
    b = write_run(str(tmp_path / 'b' / 'run'), dataset['ann_file'], ap=dataset['strong_ap'][0])
    out = run_tool('tools/compare.py', a, b, '--out', str(tmp_path / 'c.png'))
    summary = tables(out)[0]
    assert [(r[0], float(r[1])) for r in summary[1:]] == [
        ('a/run', round(dataset['weak_ap'][0][0], 3)),
        ('b/run', round(dataset['strong_ap'][0][0], 3))]
    differences = tables(out)[1]
    # no predictions kept: the iteration times only, and a note
    assert [r[:2] for r in differences[1:]] == [['b/run', 's/iter']]
    assert differences[1][-1] == 'too few logged windows to tell'  # 2 windows, 1 kept
    assert 'b/run: no interval, no predictions kept by b/run, a/run' in out


def test_one_seed_says_what_its_interval_holds_and_gives_no_verdict(dataset, tmp_path):
    dirs = [write_run(str(tmp_path / name), dataset['ann_file'], dataset[model][0],
                      ap=dataset[f'{model}_ap'][0]) for name, model in (('focal', 'weak'),
                                                                         ('asl', 'strong'))]
    out = run_tool('tools/compare.py', *dirs, '--out', str(tmp_path / 'c.png'), '--resamples',
                   '200')
    assert ('asl: one seed: paired bootstrap interval over the 60 validation images (200 '
            'resamples, seed 0): it holds the evaluation noise of these two trained models on '
            'these images, not the training noise (seed to seed), which one seed does not '
            'measure: no verdict about the losses; train several seeds of each config for one '
            '(tools/demo.py --seeds 3; work dirs named CONFIG_seed<N>)') in out
    differences = {r[1]: r[2:] for r in tables(out)[1][1:]}
    # the strong model is above the weak one on every resample of these images, and that is
    # still no statement about the losses
    assert float(differences['AP'][1].split(',')[0].strip('[')) > 0
    assert differences['AP'][2] == 'none: one seed, training noise not measured'
    assert {differences[m][2] for m in ('AP50', 'AP75', 'APs', 'APm', 'APl')} == {
        'descriptive, no verdict'}
    assert 'better' not in out and 'worse' not in out


@pytest.mark.slow
def test_seeds_grouped_with_intervals_and_verdicts(dataset, tmp_path):
    w = tmp_path / 'work_dirs'
    dirs = [write_run(str(w / f'{config}_seed{seed}'), dataset['ann_file'],
                      dataset[model][seed], ap=dataset[f'{model}_ap'][seed], times=times)
            for config, model, times in (('focal', 'weak', (3.0, 1.0, 1.1)),
                                         ('focal_again', 'weak', (3.0, 1.05, 1.2)),
                                         ('asl', 'strong', (3.0, 2.0, 2.1)))
            for seed in range(3)]
    png = str(tmp_path / 'compare.png')
    args = (*dirs, '--out', png, '--calibration', 'focal_again_seed0')
    out = run_tool('tools/compare.py', *args)
    summary, differences = tables(out)
    assert summary[0][:9] == ['run', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 's/iter',
                              's/iter range']
    assert [r[0] for r in summary[1:]] == ['focal', 'focal_again', 'asl']
    weak = [round(ap[0], 3) for ap in dataset['weak_ap']]
    assert summary[1][1] == f'{statistics.mean(weak):.3f} ± {statistics.stdev(weak):.3f}'
    assert summary[1][-1] == '3' and summary[3][7:9] == ['2.050', '2.00-2.10']
    assert ('against focal: the difference of each metric with its 95% interval; the verdict '
            'is on AP, the primary metric; AP50, AP75, APs, APm, APl: descriptive (intervals '
            'not adjusted for multiple comparisons, no verdict)') in out
    assert ('focal_again, asl: 3 seeds paired by seed (0, 1, 2): the mean of the per-seed '
            'differences on the 60 validation images, Student-t interval (2 degrees of '
            'freedom): it holds the training noise (seed to seed) on these images') in out
    assert ("focal_again is the calibration, focal's loss computed another way: its "
            'difference is the noise floor') in out
    assert differences[0] == ['run', 'metric', 'difference', '95% interval', 'verdict']
    assert differences[1][0] == 'focal_again (calibration)'  # first
    differences = {(r[0], r[1]): r[2:] for r in differences[1:]}
    assert differences[('focal_again (calibration)', 'AP')] == [
        '+0.000', '[+0.000, +0.000]', 'no difference at this sample size']
    difference, interval, verdict = differences[('asl', 'AP')]
    assert float(difference) == pytest.approx(np.mean(
        [s[0] - w[0] for s, w in zip(dataset['strong_ap'], dataset['weak_ap'])]), abs=1e-3)
    assert float(interval.split(',')[0].strip('[')) > 0 and verdict == 'better'
    assert differences[('asl', 'AP50')][2] == 'descriptive, no verdict'
    assert f'noise floor on AP: focal_again (the same loss as focal) +0.000 [+0.000, +0.000]; ' \
           f'beside it asl {difference}' in out
    assert differences[('focal_again (calibration)', 's/iter')][2] == (
        'within the spread of iteration times')
    assert differences[('asl', 's/iter')][2] == 'slower, beyond the spread'
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # the same runs, the same output
    assert run_tool('tools/compare.py', *args) == out


def run_failing(*args):
    result = subprocess.run([sys.executable, 'tools/compare.py', *args], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_clear_one_line_errors(dataset, tmp_path):
    run = write_run(str(tmp_path / 'run'), dataset['ann_file'], ap=dataset['weak_ap'][0])
    missing = str(tmp_path / 'missing')
    assert run_failing(run, missing) == (
        f"compare.py: error: work dir {missing!r} does not exist")
    assert run_failing(run, '--out', str(tmp_path / 'c.txt')).endswith(
        f"--out must be a .png file, got {str(tmp_path / 'c.txt')!r}")
    assert run_failing(run, '--out', str(tmp_path / 'no' / 'c.png')).endswith(
        "is not a writable directory")
    a_file = tmp_path / 'file'
    a_file.write_text('')
    assert 'is not a writable directory' in run_failing(run, '--out', str(a_file / 'c.png'))
    assert run_failing(run, '--calibration', 'other', '--out', str(tmp_path / 'c.png')) == (
        "compare.py: error: the calibration 'other' must be one of the compared configs other "
        "than the baseline 'run': ['run']")
    corrupt = write_run(str(tmp_path / 'corrupt'), dataset['ann_file'], ap=dataset['weak_ap'][0])
    scalars = osp.join(corrupt, '20260101_000000', 'vis_data', 'scalars.json')
    with open(scalars, 'a') as f:
        f.write('{"loss": 0.1, "ti\n')
    assert run_failing(run, corrupt, '--out', str(tmp_path / 'c.png')).startswith(
        f'compare.py: error: {scalars} line 5: not JSON (')
