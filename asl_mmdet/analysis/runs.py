"""Training runs read from their MMEngine work dirs: names, seed groups, logged metrics, times.

A run is named by the shortest suffix of its work dir's path that no other compared run
shares (``a/run`` and ``b/run`` stay apart). Runs whose names end in ``_seed<N>`` (or
``-seed<N>``, ``/seed<N>``) are the seeds of one config and form one group, named without the
suffix; any other run is a group of its own.
"""
import os.path as osp
import re
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from .logs import run_records

__all__ = ['DETECTION_METRICS', 'CLASSIFICATION_METRICS', 'SINGLE_LABEL_METRICS', 'Run',
           'RunGroup', 'run_names', 'split_seed', 'load_run', 'group_runs', 'time_spread']

# (column, logged metric): mmdet's CocoMetric; mmpretrain's AveragePrecision and
# MultiLabelMetric (macro: C*, micro: O*), in percent
DETECTION_METRICS = [('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'), ('AP75', 'bbox_mAP_75'),
                     ('APs', 'bbox_mAP_s'), ('APm', 'bbox_mAP_m'), ('APl', 'bbox_mAP_l')]
CLASSIFICATION_METRICS = [('mAP', 'mAP'), ('CP', 'precision'), ('CR', 'recall'),
                          ('CF1', 'f1-score'), ('OP', 'precision_micro'),
                          ('OR', 'recall_micro'), ('OF1', 'f1-score_micro')]
# mmpretrain's Accuracy (single-label), in percent
SINGLE_LABEL_METRICS = [('top1', 'top1'), ('top5', 'top5')]
SEED_SUFFIX = re.compile(r'^(?P<group>.+?)[_/-]seed(?P<seed>\d+)$')


def run_names(work_dirs: Sequence[str]) -> List[str]:
    """The shortest distinct path suffix of each work dir (``a/run``, ``b/run`` for two dirs
    named ``run``; the last name alone where it is unique).

    Raises:
        ValueError: if a work dir is given twice.
    """
    paths = [osp.abspath(d) for d in work_dirs]
    for i, path in enumerate(paths):
        if path in paths[:i]:
            raise ValueError(f'work dir {work_dirs[i]!r} is given twice')
    parts = [p.strip('/').split('/') for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ['/'.join(p[-d:]) for p, d in zip(parts, depth)]
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            return names
        for i, name in enumerate(names):
            if name in clashes:
                depth[i] += 1


def split_seed(name: str) -> Tuple[str, Optional[int]]:
    """``('atss_r50_asl', 2)`` for ``'atss_r50_asl_seed2'``; ``(name, None)`` without a seed
    suffix."""
    match = SEED_SUFFIX.match(name)
    return (match['group'], int(match['seed'])) if match else (name, None)


def _logged(record: dict, key: str) -> Optional[float]:
    """A metric's value in a validation record whatever its prefix (``coco/``,
    ``multi-label/``, ``accuracy/``), None if absent."""
    return next((v for k, v in record.items() if k.endswith('/' + key)), None)


@dataclass
class Run:
    """One work dir: its training and validation records (logging order)."""
    work_dir: str
    name: str
    train: List[dict]
    val: List[dict]

    @property
    def group(self) -> str:
        return split_seed(self.name)[0]

    @property
    def seed(self) -> Optional[int]:
        return split_seed(self.name)[1]

    def metric(self, key: str) -> Optional[float]:
        """The last evaluation's value of a logged metric (any prefix), None if absent."""
        return _logged(self.val[-1], key) if self.val else None

    def metric_curve(self, key: str) -> Tuple[List[int], List[float]]:
        """``(steps, values)`` of a logged metric (any prefix) at every evaluation that has
        it."""
        rows = [(record['step'], _logged(record, key)) for record in self.val]
        rows = [(step, value) for step, value in rows if value is not None]
        return [step for step, _ in rows], [value for _, value in rows]

    @property
    def columns(self) -> List[Tuple[str, str]]:
        """The metric columns of the run's task."""
        if self.metric('top1') is not None:
            return SINGLE_LABEL_METRICS
        return CLASSIFICATION_METRICS if self.metric('mAP') is not None else DETECTION_METRICS

    @property
    def compared(self) -> List[Tuple[str, str]]:
        """The columns tools/compare.py takes differences of, the primary metric (the one
        judged) first: every AP (detection), mAP alone (multi-label: the F1 metrics depend on
        a score threshold that suits one loss and not another), top-1 and top-5
        (single-label)."""
        columns = self.columns
        return columns[:1] if columns is CLASSIFICATION_METRICS else columns

    @property
    def times(self) -> List[float]:
        """The logged seconds per iteration (each a mean over a logging window)."""
        return [r['time'] for r in self.train if 'time' in r]


@dataclass
class RunGroup:
    """The runs of one config (its seeds, or a single run)."""
    name: str
    runs: List[Run] = field(default_factory=list)

    @property
    def seeds(self) -> List[Optional[int]]:
        return [run.seed for run in self.runs]


def load_run(work_dir: str, name: str) -> Run:
    """Read a work dir's ``scalars.json`` files into a :class:`Run`: a resumed run is one
    curve, a run started again in the same work dir counts from its newest start
    (:func:`~asl_mmdet.analysis.logs.run_records`).

    Raises:
        FileNotFoundError: if the work dir does not exist or has no ``scalars.json``.
        ValueError: if a ``scalars.json`` line is not a JSON object (file and line named).
    """
    if not osp.isdir(work_dir):
        raise FileNotFoundError(f'work dir {work_dir!r} does not exist')
    train, val = [], []
    for record in run_records(work_dir):
        if any(key.endswith(('/bbox_mAP', '/mAP', '/top1')) for key in record):
            val.append(record)
        elif 'loss' in record:
            train.append(record)
    return Run(work_dir, name, train, val)


def group_runs(runs: Sequence[Run]) -> Dict[str, RunGroup]:
    """The runs grouped by config, in order of first appearance.

    Raises:
        ValueError: if a group holds the same seed twice.
    """
    groups: Dict[str, RunGroup] = {}
    for run in runs:
        group = groups.setdefault(run.group, RunGroup(run.group))
        if run.seed is not None and run.seed in group.seeds:
            raise ValueError(f'config {run.group!r} has seed {run.seed} twice')
        group.runs.append(run)
    return groups


def time_spread(runs: Sequence[Run]) -> Optional[Tuple[float, float, float, int]]:
    """The median and the range (min, max) of the logged iteration times of some runs (each a
    mean over a logging window), pooled; a run's first window (it holds the start-up) is left
    out when the run logged others.

    Returns:
        tuple[float, float, float, int], optional: (median, low, high, number of windows),
        None without times.
    """
    kept = [t for run in runs for t in (run.times[1:] if len(run.times) > 1 else run.times)]
    if not kept:
        return None
    return statistics.median(kept), min(kept), max(kept), len(kept)
