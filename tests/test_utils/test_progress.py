"""asl_mmdet.utils.progress: MMEngine's logger lines read into a progress bar, a run's whole
output kept in its log, a failing run's tail and status reported."""
import os
import re
import signal
import sys
import threading
import time

import pytest

from asl_mmdet.utils.progress import (RunFailed, parse_progress, run_all, run_with_progress,
                                      thread_groups)

# lines as MMEngine 0.10 / MMDetection 3.3 / mmpretrain 1.2 print them
TRAIN = ('12/05 17:10:01 - mmengine - INFO - Iter(train) [ 20/300]  base_lr: 2.0000e-02 '
         'lr: 8.2000e-03  eta: 0:01:10  time: 0.2512  data_time: 0.0101  memory: 0  '
         'grad_norm: 3.1  loss: 2.4871  loss_cls: 1.1033  loss_bbox: 0.7602  '
         'loss_centerness: 0.6236')
VAL = '12/05 17:11:00 - mmengine - INFO - Iter(val) [ 50/500]    eta: 0:00:30  time: 0.05'
VAL_END = ('12/05 17:11:30 - mmengine - INFO - Iter(val) [500/500]    coco/bbox_mAP: 0.2240  '
           'coco/bbox_mAP_50: 0.4010  coco/bbox_mAP_75: 0.2150  data_time: 0.0011  '
           'time: 0.0530')
CLS_END = ('Iter(val) [20/20]    multi-label/mAP: 36.6125  multi-label/precision: 50.1  '
           'data_time: 0.01')
SINGLE_END = 'Iter(val) [11/11]    accuracy/top1: 52.1000  accuracy/top5: 90.3000'


@pytest.mark.parametrize('line, expected', [
    (TRAIN, dict(iter=20, loss='2.4871')),
    (VAL, dict(evaluating=True)),
    (VAL_END, dict(evaluating=True, metric='AP 0.2240')),
    (CLS_END, dict(evaluating=True, metric='mAP 36.6125')),
    (SINGLE_END, dict(evaluating=True, metric='top-1 52.1000')),
    ('Iter(train) [  5/300]  lr: 1.0e-3  eta: 0:01:00', dict(iter=5)),
    ('12/05 17:10:00 - mmengine - INFO - Checkpoints will be saved to /tmp/x.', {}),
    ('coco/bbox_mAP_50: 0.4010', {}),  # not the primary metric
])
def test_parse_progress(line, expected):
    assert parse_progress(line) == expected


def script(lines, status=0):
    """A command that prints ``lines`` (and a traceback-like line on stderr) and exits with
    ``status``."""
    code = (f'import sys\nfor line in {lines!r}:\n    print(line)\n'
            f'print("stderr line", file=sys.stderr)\nsys.exit({status})\n')
    return [sys.executable, '-c', code]


def test_run_with_progress_keeps_the_whole_output(tmp_path, capsys):
    log = tmp_path / 'train.log'
    lines = ['env dump'] * 40 + [TRAIN, VAL, VAL_END]
    seconds = run_with_progress(script(lines), str(log), total=300, desc='run 1/1')
    assert seconds > 0
    assert log.read_text().splitlines() == lines + ['stderr line']
    err = capsys.readouterr().err  # tqdm's bar: the console gets it, not the log lines
    assert 'run 1/1' in err and '20/300' in err and 'loss 2.4871' in err and 'AP 0.2240' in err
    assert 'env dump' not in err
    # the finished run's line stays: its last state ended by the only newline (the bar itself
    # is rewritten in place and cleared at the end)
    assert err.count('\n') == 1
    assert err.split('\n')[0].rsplit('\r', 1)[-1].startswith('run 1/1 ')
    assert re.search(r' 20/300 \[\d\d:\d\d<[^\]]*\], loss 2\.4871, AP 0\.2240$',
                     err.split('\n')[0])


def test_a_stopped_run_is_killed_at_its_next_line(tmp_path):
    """Another run failed: this one is killed at its next log line, not left to finish."""
    code = 'import time\nfor i in range(100):\n    print(i, flush=True)\n    time.sleep(0.2)\n'
    stop = threading.Event()
    stop.set()
    start = time.monotonic()
    with pytest.raises(RunFailed) as info:
        run_with_progress([sys.executable, '-c', code], str(tmp_path / 'log'), total=10,
                          desc='x', stop=stop, position=1)
    assert info.value.returncode == -signal.SIGKILL
    assert time.monotonic() - start < 10  # the script alone takes 20 s


def test_a_failing_run_raises_with_its_tail(tmp_path):
    log = tmp_path / 'train.log'
    lines = [f'line {i}' for i in range(50)] + ['Traceback (most recent call last):',
                                                 'FileNotFoundError: 000001.png']
    with pytest.raises(RunFailed) as info:
        run_with_progress(script(lines, status=3), str(log), total=10, desc='x', tail_lines=5)
    error = info.value
    assert (error.log, error.returncode) == (str(log), 3)
    assert error.tail == lines[-4:] + ['stderr line']
    assert str(error) == f'the run failed (exit status 3); its log: {log}'
    assert log.read_text().splitlines() == lines + ['stderr line']


def test_total_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match='total must be >= 1, got 0'):
        run_with_progress(script([]), str(tmp_path / 'log'), total=0, desc='x')


def test_run_all_reports_the_first_failure_and_kills_the_run_beside_it(tmp_path):
    slow = 'import time\nfor i in range(100):\n    print(i, flush=True)\n    time.sleep(0.2)\n'
    runs = [('slow', [sys.executable, '-c', slow], str(tmp_path / 'slow.log')),
            ('fails', script(['Traceback (most recent call last):'], status=2),
             str(tmp_path / 'fails.log')),
            ('never', script(['never']), str(tmp_path / 'never.log'))]
    start = time.monotonic()
    with pytest.raises(RunFailed) as info:
        run_all(runs, total=10, jobs=2)
    assert (info.value.name, info.value.returncode) == ('fails', 2)
    assert info.value.log == str(tmp_path / 'fails.log')
    assert time.monotonic() - start < 10  # the slow script alone takes 20 s: killed
    assert not (tmp_path / 'never.log').exists()  # not started after the failure


def test_run_all_runs_every_command(tmp_path):
    runs = [(f'run{i}', script([f'Iter(train) [10/10]  loss: 0.{i}']), str(tmp_path / f'{i}.log'))
            for i in range(3)]
    run_all(runs, total=10, jobs=2)
    assert [(tmp_path / f'{i}.log').read_text().splitlines()[0] for i in range(3)] == [
        f'Iter(train) [10/10]  loss: 0.{i}' for i in range(3)]


def test_run_all_jobs_must_be_positive():
    with pytest.raises(ValueError, match='jobs must be >= 1, got 0'):
        run_all([], total=1, jobs=0)


@pytest.mark.parametrize('runs, jobs, cores, expected', [
    # the detection demo: 15 runs in pairs on 2 cores, the last one alone on both
    (15, 2, 2, [(14, 2, 1), (1, 1, 2)]),
    (4, 2, 2, [(4, 2, 1)]),  # no run left over
    (5, 4, 4, [(4, 4, 1), (1, 1, 4)]),
    (8, 3, 8, [(6, 3, 2), (2, 2, 4)]),  # two left over share the 8 cores
    (3, 4, 4, [(3, 3, 1)]),  # fewer runs than jobs: all of them left over
    (3, 2, 1, [(2, 2, 1), (1, 1, 1)]),  # never under one thread
    (7, 2, None, [(7, 2, None)]),  # the environment decides
    (0, 2, 2, []),
])
def test_thread_groups(runs, jobs, cores, expected):
    assert thread_groups(runs, jobs, cores) == expected


@pytest.mark.parametrize('kwargs, message', [
    (dict(runs=-1, jobs=1), 'runs must be >= 0, got -1'),
    (dict(runs=2, jobs=0), 'jobs must be >= 1, got 0'),
    (dict(runs=2, jobs=1.5), 'jobs must be >= 1, got 1.5'),
    (dict(runs=2, jobs=1, cores=0), 'cores must be >= 1 or None, got 0'),
])
def test_thread_groups_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        thread_groups(**kwargs)


def threads_script(sleep, done, waits_for=()):
    """A command that prints its ``OMP_NUM_THREADS`` and how many of the ``waits_for`` runs
    have not ended yet, sleeps, then marks itself ``done``."""
    code = ('import os, sys, time\n'
            'print(os.environ.get("OMP_NUM_THREADS"), '
            'sum(not os.path.exists(path) for path in sys.argv[3:]))\n'
            'time.sleep(float(sys.argv[1]))\n'
            'open(sys.argv[2], "w").close()\n')
    return [sys.executable, '-c', code, str(sleep), done, *waits_for]


@pytest.mark.parametrize('runs, jobs, cores, expected', [
    # 3 runs, 2 at once on 4 cores: the third waits for both and takes every core
    (3, 2, 4, [['2', '0'], ['2', '0'], ['4', '0']]),
    (4, 2, 2, [['1', '0'], ['1', '0'], ['1', '0'], ['1', '0']]),  # no run left over
    (5, 4, 4, [['1', '0']] * 4 + [['4', '0']]),
])
def test_run_all_gives_the_runs_left_over_every_core(tmp_path, runs, jobs, cores, expected):
    done = [str(tmp_path / f'{i}.done') for i in range(runs)]
    full = runs - runs % jobs
    # the first run of the last full group ends first: a run started in its place (not after
    # the whole group) would find the group's other runs still going
    commands = [threads_script(0.1 if i == full - jobs else 1.0, done[i],
                               waits_for=done[:full] if i >= full else ())
                for i in range(runs)]
    run_all([(f'run{i}', command, str(tmp_path / f'{i}.log'))
             for i, command in enumerate(commands)], total=1, jobs=jobs, cores=cores)
    assert [(tmp_path / f'{i}.log').read_text().split()[:2] for i in range(runs)] == expected


def test_run_all_leaves_the_threads_to_env_without_cores(tmp_path):
    runs = [(f'run{i}', threads_script(0, str(tmp_path / f'{i}.done')), str(tmp_path / f'{i}.log'))
            for i in range(3)]
    run_all(runs, total=1, jobs=2, env=dict(os.environ, OMP_NUM_THREADS='3'))
    assert [(tmp_path / f'{i}.log').read_text().split()[0] for i in range(3)] == ['3'] * 3


def test_run_all_cores_must_be_positive():
    with pytest.raises(ValueError, match='cores must be >= 1 or None, got 0'):
        run_all([], total=1, jobs=1, cores=0)
