"""asl_mmdet.analysis.runs (names, seed groups, metric columns, time spread) and
asl_mmdet.analysis.logs (scalars.json errors)."""
import json

import pytest

from asl_mmdet.analysis.logs import read_scalars
from asl_mmdet.analysis.runs import (CLASSIFICATION_METRICS, DETECTION_METRICS,
                                     SINGLE_LABEL_METRICS, Run, group_runs, load_run,
                                     run_names, split_seed, time_spread)
from tests.run_utils import write_scalars


def test_run_names_are_the_shortest_distinct_suffixes():
    assert run_names(['w/atss_r50_focal', 'w/atss_r50_asl']) == ['atss_r50_focal',
                                                                 'atss_r50_asl']
    assert run_names(['a/run', 'b/run', 'c/other']) == ['a/run', 'b/run', 'other']
    assert run_names(['x/a/run', 'y/a/run', 'b/run/']) == ['x/a/run', 'y/a/run', 'b/run']
    with pytest.raises(ValueError, match="work dir 'a/run/' is given twice"):
        run_names(['a/run', 'a/run/'])


def test_seed_suffixes_group_runs_by_config():
    assert split_seed('atss_r50_asl_seed12') == ('atss_r50_asl', 12)
    assert split_seed('atss_r50_asl/seed0') == ('atss_r50_asl', 0)
    assert split_seed('atss_r50_asl') == ('atss_r50_asl', None)
    runs = [Run('d', n, [], []) for n in ('f_seed0', 'a', 'f_seed1', 'f/seed2')]
    groups = group_runs(runs)
    assert list(groups) == ['f', 'a'] and groups['f'].seeds == [0, 1, 2]
    with pytest.raises(ValueError, match="config 'f' has seed 0 twice"):
        group_runs(runs + [Run('e', 'f_seed0', [], [])])  # e.g. from --names


def test_time_spread_pools_runs_without_their_first_window():
    runs = [Run('d', 'a', [dict(loss=1, time=t) for t in (9.0, 1.0, 2.0)], []),
            Run('d', 'b', [dict(loss=1, time=t) for t in (8.0, 3.0, 5.0)], [])]
    assert time_spread(runs) == (2.5, 1.0, 5.0, 4)
    assert time_spread([Run('d', 'c', [dict(loss=1, time=4.0)], [])]) == (4.0, 4.0, 4.0, 1)
    assert time_spread([Run('d', 'c', [], [])]) is None


def test_a_corrupt_scalars_line_names_the_file_and_the_line(tmp_path):
    path = tmp_path / '20240101_000000' / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(dict(iter=1, loss=0.5)) + '\n\n{"iter": 2, "lo\n')
    with pytest.raises(ValueError, match=f'{path} line 3: not JSON'):
        read_scalars(str(tmp_path))
    path.write_text('[1, 2]\n')
    with pytest.raises(ValueError, match=f'{path} line 1: not a JSON object'):
        read_scalars(str(tmp_path))


def test_each_task_has_its_metric_columns(tmp_path):
    tasks = [('coco/bbox_mAP', DETECTION_METRICS, DETECTION_METRICS),
             ('multi-label/mAP', CLASSIFICATION_METRICS, [('mAP', 'mAP')]),
             ('accuracy/top1', SINGLE_LABEL_METRICS, SINGLE_LABEL_METRICS)]
    for key, columns, compared in tasks:
        records = [dict(loss=1.0, step=1), {key: 50.0, 'step': 1}]
        write_scalars(tmp_path, '20260101_000000', records)
        run = load_run(str(tmp_path), 'run')
        assert len(run.train) == len(run.val) == 1, key
        assert run.columns == columns and run.metric(key.split('/')[1]) == 50.0
        assert run.compared == compared  # the primary metric first: the one judged
    assert SINGLE_LABEL_METRICS == [('top1', 'top1'), ('top5', 'top5')]


def test_a_run_started_again_in_its_work_dir_counts_from_its_newest_start(tmp_path):
    """`make demo` run twice writes a second timestamp into every work dir: its curves and
    times are the newest run's; a resumed run (a later start past the older records) is one
    curve."""
    def train(steps, loss):
        return [dict(iter=s, step=s, loss=loss, time=0.5) for s in steps]

    write_scalars(tmp_path, '20260101_000000', train([10, 20, 30], 9.0) + [
        {'coco/bbox_mAP': 0.1, 'step': 15}, {'coco/bbox_mAP': 0.2, 'step': 30}])
    write_scalars(tmp_path, '20260102_000000', train([10, 20], 1.0) + [
        {'coco/bbox_mAP': 0.3, 'step': 20}])
    run = load_run(str(tmp_path), 'run')
    assert [(r['step'], r['loss']) for r in run.train] == [(10, 1.0), (20, 1.0)]
    assert [(r['step'], r['coco/bbox_mAP']) for r in run.val] == [(20, 0.3)]
    # resumed at 20: the new records follow the old ones
    write_scalars(tmp_path, '20260103_000000', train([30], 2.0) + [
        {'coco/bbox_mAP': 0.4, 'step': 30}])
    run = load_run(str(tmp_path), 'run')
    assert [(r['step'], r['loss']) for r in run.train] == [(10, 1.0), (20, 1.0), (30, 2.0)]
    assert [r['step'] for r in run.val] == [20, 30] and run.metric('bbox_mAP') == 0.4
    assert run.metric_curve('bbox_mAP') == ([20, 30], [0.3, 0.4])
    assert run.metric_curve('mAP') == ([], [])
