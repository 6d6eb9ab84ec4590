"""A training run as a child process behind one progress bar (the demos' console).

The child's whole output (MMEngine's log lines, warnings, a traceback) goes to a log file in
its work dir; the console shows one tqdm bar per run, fed by MMEngine's logger lines: the
iterations done, elapsed time, ETA, the last logged loss and the last evaluation's metric.
Several runs may train at once, each bar on its own line (``position``); a finished run leaves
one line with its last state.
"""
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

from tqdm import tqdm

__all__ = ['RunFailed', 'parse_progress', 'run_with_progress', 'run_all', 'available_cores',
           'thread_groups']

# MMEngine's LoggerHook lines: "Iter(train) [ 10/300]  ... loss: 2.1234  loss_cls: ..." and
# "Iter(val) [500/500]    coco/bbox_mAP: 0.2230  ..." (mmpretrain: "multi-label/mAP: 31.4",
# "accuracy/top1: 52.1")
TRAIN_LINE = re.compile(r'Iter\(train\) \[\s*(?P<iter>\d+)/\s*(?P<total>\d+)\]'
                        r'(?:.*?\sloss: (?P<loss>\S+))?')
VAL_LINE = re.compile(r'Iter\(val\) \[\s*(?P<iter>\d+)/\s*(?P<total>\d+)\]')
# the primary metric of each task's evaluation line, and its short name
METRIC_NAMES = {'coco/bbox_mAP': 'AP', 'multi-label/mAP': 'mAP', 'accuracy/top1': 'top-1'}
METRIC = re.compile(f'(?P<name>{"|".join(map(re.escape, METRIC_NAMES))}): (?P<value>\\S+)')


class RunFailed(RuntimeError):
    """A run's process ended with a non-zero status.

    Attributes:
        log (str): the run's log file.
        returncode (int): its exit status.
        tail (list[str]): the last lines of its log.
        name (str): the run's name (:func:`run_all`; empty otherwise).
    """

    def __init__(self, log: str, returncode: int, tail: Sequence[str], name: str = '') -> None:
        self.log, self.returncode, self.tail, self.name = log, returncode, list(tail), name
        super().__init__(f'the run failed (exit status {returncode}); its log: {log}')


def parse_progress(line: str) -> dict:
    """What a log line says about the run's progress: ``iter`` and ``loss`` (a training
    line), ``evaluating`` (a validation line), ``metric`` (the primary metric of an
    evaluation, e.g. ``'AP 0.223'``); empty for any other line."""
    found = {}
    train = TRAIN_LINE.search(line)
    if train:
        found['iter'] = int(train['iter'])
        if train['loss'] is not None:
            found['loss'] = train['loss']
    elif VAL_LINE.search(line):
        found['evaluating'] = True
    metric = METRIC.search(line)
    if metric:
        found['metric'] = f'{METRIC_NAMES[metric["name"]]} {metric["value"]}'
    return found


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS reports one, as in a
    container limited to some cores)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_groups(runs: int, jobs: int,
                  cores: Optional[int] = None) -> List[Tuple[int, int, Optional[int]]]:
    """How :func:`run_all` trains ``runs`` runs, ``jobs`` at once, on ``cores`` cores: its
    groups, in order, as ``(count, at_once, threads)``.

    The runs go ``jobs`` at once with ``cores // jobs`` threads each; the runs left over after
    the last full group (``runs % jobs`` of them) start once the others have ended and share
    every core, ``cores // left_over`` threads each, so that no core idles while they train.
    Without ``cores`` every run is in one group and ``threads`` is None (the environment
    decides).

    Example:
        >>> thread_groups(15, 2, cores=2)
        [(14, 2, 1), (1, 1, 2)]
    """
    if not isinstance(runs, int) or runs < 0:
        raise ValueError(f'runs must be >= 0, got {runs!r}')
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f'jobs must be >= 1, got {jobs!r}')
    if cores is None:
        return [(runs, jobs, None)] if runs else []
    if not isinstance(cores, int) or cores < 1:
        raise ValueError(f'cores must be >= 1 or None, got {cores!r}')
    left_over = runs % jobs
    groups = [(runs - left_over, jobs, max(1, cores // jobs))] if runs >= jobs else []
    if left_over:
        groups.append((left_over, left_over, max(1, cores // left_over)))
    return groups


def run_with_progress(command: List[str], log_path: str, total: int, desc: str,
                      tail_lines: int = 30, env: Optional[dict] = None, position: int = 0,
                      stop: Optional[threading.Event] = None) -> float:
    """Run ``command``, its output into ``log_path``, behind one progress bar of ``total``
    iterations; returns the seconds it took. When it ends, its bar's last state stays as one
    console line.

    Args:
        command (list[str]): the training command (MMEngine's logger must print its lines).
        log_path (str): the file that receives the command's whole output.
        total (int): the run's training iterations.
        desc (str): the bar's label.
        tail_lines (int): the log lines kept for :class:`RunFailed`.
        env (dict, optional): the child's environment (default: this process's), with
            ``PYTHONUNBUFFERED=1`` so that lines arrive as they are logged.
        position (int): the bar's line among the bars of runs training at once (0: the
            first).
        stop (threading.Event, optional): once set, the command is killed at its next output
            line (another run failed).

    Raises:
        RunFailed: if the command exits with a non-zero status (or was stopped).
    """
    if total < 1:
        raise ValueError(f'total must be >= 1, got {total}')
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED='1')
    tail = deque(maxlen=tail_lines)
    start = time.monotonic()
    status = {}  # the last loss and metric
    with open(log_path, 'w') as log, tqdm(total=total, desc=desc, unit='it', ncols=110,
                                          position=position, leave=False,
                                          bar_format='{desc} {bar:20} {n_fmt}/{total_fmt} '
                                          '[{elapsed}<{remaining}]{postfix}') as bar:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env)
        for line in process.stdout:
            if stop is not None and stop.is_set():
                process.kill()
            log.write(line)
            tail.append(line.rstrip('\n'))
            found = parse_progress(line)
            if not found:
                continue
            if 'iter' in found:
                bar.update(found['iter'] - bar.n)
            # an evaluation runs from its first line to the line with its metric
            evaluating = found.get('evaluating', False) and 'metric' not in found
            status.update({key: found[key] for key in ('loss', 'metric') if key in found})
            bar.set_postfix_str(', '.join(['evaluating'] * evaluating + [
                f'{key} {status[key]}' if key == 'loss' else status[key]
                for key in ('loss', 'metric') if key in status]), refresh=True)
        returncode = process.wait()
        # the finished run's line, above the bars still running
        tqdm.write(str(bar), file=sys.stderr)
    if returncode:
        raise RunFailed(log_path, returncode, tail)
    return time.monotonic() - start


def run_all(runs: Sequence[Tuple[str, List[str], str]], total: int, jobs: int = 1,
            env: Optional[dict] = None, cores: Optional[int] = None) -> None:
    """Run every ``(name, command, log_path)`` of ``runs`` with :func:`run_with_progress`,
    ``jobs`` at once, in order, each behind its bar (``'i/n name'``); the first run that fails
    stops the others (the running ones are killed, the rest not started).

    Args:
        runs (Sequence[tuple]): each run's name, command and log file.
        total (int): each run's training iterations.
        jobs (int): runs at once.
        env (dict, optional): the commands' environment (default: this process's).
        cores (int, optional): the cores the runs share, split into threads
            (``OMP_NUM_THREADS``) as :func:`thread_groups` says: ``cores // jobs`` each, and
            the runs left over after the last full group of ``jobs`` start once the others have
            ended and share every core. Default: ``env`` decides.

    Raises:
        RunFailed: the first run that failed, its ``name`` set (the runs it stopped fail after
            it and are not reported).
    """
    groups = thread_groups(len(runs), jobs, cores)
    env = dict(os.environ if env is None else env)
    stop = threading.Event()
    lock = threading.Lock()
    failed = []

    def group(first: int, count: int, at_once: int, threads: Optional[int]) -> None:
        group_env = env if threads is None else dict(env, OMP_NUM_THREADS=str(threads))
        positions = queue.SimpleQueue()  # the bars' lines free for a starting run
        for position in range(at_once):
            positions.put(position)

        def run(index: int, name: str, command: List[str], log_path: str) -> None:
            if stop.is_set():
                return
            position = positions.get()
            try:
                run_with_progress(command, log_path, total, f'{index + 1}/{len(runs)} {name}',
                                  env=group_env, position=position, stop=stop)
            except RunFailed as error:
                with lock:  # here, before this worker takes the next run
                    if not stop.is_set():
                        error.name = name
                        failed.append(error)
                        stop.set()
            finally:
                positions.put(position)

        with ThreadPoolExecutor(at_once) as pool:
            for future in [pool.submit(run, index, *runs[index])
                           for index in range(first, first + count)]:
                future.result()

    first = 0
    for count, at_once, threads in groups:
        group(first, count, at_once, threads)
        first += count
    if failed:
        raise failed[0]
