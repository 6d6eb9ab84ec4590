"""tools/demo.py as a user runs it: a console of a few lines, one progress bar per run, each
run's whole log in its work dir; a run that fails stops the demo with the tail of its log, the
log's path and a non-zero exit status."""
import json
import os
import os.path as osp
import re

import pytest
from mmengine.config import Config

from asl_mmdet.datasets.synthetic_coco import CLASSES, DEMO_SPLITS
from asl_mmdet.demo import DEMO_TASKS
from asl_mmdet.utils.progress import available_cores
from tests.run_utils import run_python

pytestmark = pytest.mark.slow


@pytest.fixture
def imageless_root(tmp_path):
    """A demo root whose annotations are complete but whose images are missing: the first
    training batch fails."""
    root = tmp_path / 'data'
    (root / 'annotations').mkdir(parents=True)
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    for split, (num_images, _, _) in DEMO_SPLITS.items():
        images = [dict(id=i, file_name=f'{i:06d}.png', width=256, height=256)
                  for i in range(1, num_images + 1)]
        annotations = [dict(id=i, image_id=i, category_id=1, bbox=[10, 10, 40, 40], area=1600,
                            iscrowd=0) for i in range(1, num_images + 1)]
        with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return str(root)


def test_a_failing_run_stops_the_demo_with_its_log(imageless_root, tmp_path):
    work_dir = str(tmp_path / 'work')
    result = run_python('tools/demo.py', '--data-root', imageless_root, '--work-dir', work_dir,
                        '--iters', '2', '--seeds', '1', '--configs', 'atss_r50_focal',
                        'atss_r50_asl', '--jobs', '1')
    assert result.returncode == 1
    log = osp.join(work_dir, 'atss_r50_focal', 'train.log')
    assert result.stderr.rstrip().endswith(
        f'demo.py: error: atss_r50_focal failed (exit status 1); the last 30 lines of its log '
        f'are above, the whole log is {log}')
    with open(log) as f:
        lines = f.read().splitlines()
    assert len(lines) > 30 and '\n'.join(lines[-30:]) in result.stderr
    assert 'No such file or directory' in '\n'.join(lines[-30:]) or \
        'FileNotFoundError' in '\n'.join(lines[-30:])
    # the console: the plan and the logs' place (the bar is on stderr); no MMEngine line
    model = DEMO_TASKS['det'].model
    threads = available_cores()
    assert result.stdout.splitlines() == [
        f'2 runs: atss_r50_focal, atss_r50_asl x seeds 0-0; {model}, 128 px, 2 '
        f'iterations each, data in {imageless_root}; 1 at once, {threads} '
        f'thread{"s" * (threads > 1)} each',
        f'each run\'s full log: {work_dir}/<run>/train.log']
    # the demo stopped: the second run's config was written, but it never started
    assert not osp.exists(osp.join(work_dir, 'atss_r50_asl', 'train.log'))
    # a run shorter than the demo's keeps every box at test time (DEMO_TASKS' 0.05 was measured
    # on the demo's own schedule)
    cfg = Config.fromfile(osp.join(work_dir, 'atss_r50_asl', 'atss_r50_asl_demo.py'))
    assert cfg.model.test_cfg.score_thr == 0.0


def test_a_failing_run_stops_the_runs_beside_it(imageless_root, tmp_path):
    """Two runs at once: the run that failed first is the one reported (the run beside it is
    killed, tests/test_utils/test_progress.py), and the demo exits 1; the third run, left over
    to train alone on every core, never starts."""
    work_dir = str(tmp_path / 'work')
    result = run_python('tools/demo.py', '--data-root', imageless_root, '--work-dir', work_dir,
                        '--iters', '2', '--seeds', '3', '--configs', 'atss_r50_focal',
                        '--jobs', '2')
    assert result.returncode == 1
    cores = available_cores()
    threads = max(1, cores // 2)
    alone = f' (the last run alone on {cores} threads)' if cores > threads else ''
    assert result.stdout.splitlines()[0].endswith(
        f'; 2 at once, {threads} thread{"s" * (threads > 1)} each{alone}')
    assert not osp.exists(osp.join(work_dir, 'atss_r50_focal_seed2', 'train.log'))
    last = result.stderr.rstrip().splitlines()[-1]
    failed = re.fullmatch(r'demo.py: error: (atss_r50_focal_seed[01]) failed \(exit status 1\); '
                          r'the last 30 lines of its log are above, the whole log is (.*)', last)
    assert failed and failed[2] == osp.join(work_dir, failed[1], 'train.log'), last
