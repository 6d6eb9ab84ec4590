"""tools/compare.py as a user runs it, on work dirs written here (MMEngine's layout: scalars,
the run's config, the predictions its CocoMetric kept): runs with the same last name, seeds
grouped by config, paired intervals and verdicts, clear one-line errors."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.test_analysis.synthetic import cocoeval_stats, detections, ground_truth
from tests.run_utils import ENV, ROOT, run_tool, write_scalars

METRICS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l')


def write_run(work_dir, ann_file=None, results=None, times=(2.0, 1.0, 1.2), ap=None):
    """A work dir as a training run with CocoMetric(outfile_prefix=...) leaves it."""
    records = [dict(loss=1.0 / (i + 1), loss_cls=0.5 / (i + 1), time=t, iter=10 * (i + 1),
                    step=10 * (i + 1)) for i, t in enumerate(times)]
    records.append({f'coco/{m}': round(float(v), 3) for m, v in zip(METRICS, ap)} |
                   dict(step=10 * len(times)))
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
    root = tmp_path_factory.mktemp('gt')
    coco = ground_truth(60, 4, seed=0, crowd=0.0)
    ann_file = str(root / 'instances_val.json')
    with open(ann_file, 'w') as f:
        json.dump(coco.dataset, f)
    weak = detections(coco, quality=0.2, seed=1)
    strong = [dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                   score=0.99) for a in coco.dataset['annotations']] + weak
    return dict(ann_file=ann_file, weak=weak, strong=strong,
                weak_ap=cocoeval_stats(coco, weak), strong_ap=cocoeval_stats(coco, strong))


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
    a = write_run(str(tmp_path / 'a' / 'run'), dataset['ann_file'], ap=dataset['weak_ap'])
    b = write_run(str(tmp_path / 'b' / 'run'), dataset['ann_file'], ap=dataset['strong_ap'])
    out = run_tool('tools/compare.py', a, b, '--out', str(tmp_path / 'c.png'))
    summary = tables(out)[0]
    assert [(r[0], float(r[1])) for r in summary[1:]] == [
        ('a/run', round(dataset['weak_ap'][0], 3)), ('b/run', round(dataset['strong_ap'][0], 3))]
    differences = tables(out)[1]
    # no predictions kept: the iteration times only, and a note
    assert [r[:2] for r in differences[1:]] == [['b/run', 's/iter']]
    assert differences[1][-1] == 'too few logged windows to tell'  # 2 windows, 1 kept
    assert 'a/run: no interval, no predictions kept by a/run' in out


@pytest.mark.slow
def test_seeds_grouped_with_intervals_and_verdicts(dataset, tmp_path):
    w = tmp_path / 'work_dirs'
    dirs = [write_run(str(w / f'{config}_seed{seed}'), dataset['ann_file'],
                      dataset[model], ap=dataset[f'{model}_ap'], times=times)
            for config, model, times in (('focal', 'weak', (3.0, 1.0, 1.1)),
                                         ('focal_again', 'weak', (3.0, 1.05, 1.2)),
                                         ('asl', 'strong', (3.0, 2.0, 2.1)))
            for seed in (0, 1)]
    png = str(tmp_path / 'compare.png')
    out = run_tool('tools/compare.py', *dirs, '--out', png, '--resamples', '200',
                   '--bootstrap-seed', '3')
    summary, differences = tables(out)
    assert summary[0][:9] == ['run', 'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 's/iter',
                              's/iter range']
    assert [r[0] for r in summary[1:]] == ['focal', 'focal_again', 'asl']
    assert summary[1][1] == f'{round(dataset["weak_ap"][0], 3):.3f} ± 0.000'
    assert summary[1][-1] == '2' and summary[3][7:9] == ['2.050', '2.00-2.10']
    assert 'against focal: paired differences, 95% bootstrap intervals over the 60 ' \
           'validation images (200 resamples, seed 3; seeds resampled too)' in out
    assert differences[0] == ['run', 'metric', 'difference', '95% interval', 'verdict']
    differences = {(r[0], r[1]): r[2:] for r in differences[1:]}
    assert differences[('focal_again', 'AP')] == ['+0.000', '[+0.000, +0.000]',
                                                  'no difference at this sample size']
    difference, interval, verdict = differences[('asl', 'AP')]
    assert float(difference) == pytest.approx(dataset['strong_ap'][0] - dataset['weak_ap'][0],
                                              abs=1e-3)
    assert float(interval.split(',')[0].strip('[')) > 0 and verdict == 'better'
    assert differences[('focal_again', 's/iter')][2] == 'within the spread of iteration times'
    assert differences[('asl', 's/iter')][2] == 'slower, beyond the spread'
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # the same options, the same intervals
    again = run_tool('tools/compare.py', *dirs, '--out', png, '--resamples', '200',
                     '--bootstrap-seed', '3')
    assert again == out


def run_failing(*args):
    result = subprocess.run([sys.executable, 'tools/compare.py', *args], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert 'Traceback' not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_clear_one_line_errors(dataset, tmp_path):
    run = write_run(str(tmp_path / 'run'), dataset['ann_file'], ap=dataset['weak_ap'])
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
    corrupt = write_run(str(tmp_path / 'corrupt'), dataset['ann_file'], ap=dataset['weak_ap'])
    scalars = osp.join(corrupt, '20260101_000000', 'vis_data', 'scalars.json')
    with open(scalars, 'a') as f:
        f.write('{"loss": 0.1, "ti\n')
    assert run_failing(run, corrupt, '--out', str(tmp_path / 'c.png')).startswith(
        f'compare.py: error: {scalars} line 5: not JSON (')
