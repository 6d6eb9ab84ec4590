"""tools/compare.py's report: per-config metrics over seeds, paired bootstrap differences
against a baseline with verdicts, iteration times with their spread, and a PNG of curves and
intervals."""
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .bootstrap import (Interval, mean_over_seeds, paired_intervals, resample_counts,
                        seed_draws)
from .predictions import Scorer
from .runs import RunGroup, time_spread

__all__ = ['Bootstrap', 'bootstrap_groups', 'summary_rows', 'difference_rows',
           'plot_comparison']

WITHIN_SPREAD = 'within the spread of iteration times'
FEW_WINDOWS = 'too few logged windows to tell'
MIN_WINDOWS = 3  # logged times per config (start-up left out) for a timing verdict


@dataclass
class Bootstrap:
    """Paired bootstrap intervals of every group against the baseline group.

    Attributes:
        baseline (str): the baseline group.
        intervals (dict): group -> logged metric name -> :class:`Interval` (groups whose runs
            all kept predictions).
        num_images (int): the validation images resampled.
        resamples (int): the number of resamples.
        seed (int): the resampling seed.
        confidence (float): the intervals' coverage.
        notes (list[str]): why a group has no intervals.
    """
    baseline: str
    intervals: Dict[str, Dict[str, Interval]] = field(default_factory=dict)
    num_images: int = 0
    resamples: int = 0
    seed: int = 0
    confidence: float = 0.95
    notes: List[str] = field(default_factory=list)


def _columns_for(scorer: Scorer, weights: np.ndarray, base_keys: List) -> Dict[str, np.ndarray]:
    if scorer.image_keys != base_keys:
        if sorted(map(str, scorer.image_keys)) != sorted(map(str, base_keys)):
            raise ValueError(f'{scorer.path!r} scores other validation images than the '
                             'baseline: runs are compared on the same images only')
        position = {str(k): i for i, k in enumerate(base_keys)}
        weights = weights[:, [position[str(k)] for k in scorer.image_keys]]
    return scorer.metrics(weights)


def bootstrap_groups(groups: Dict[str, RunGroup], baseline: str,
                     scorers: Dict[str, Optional[Scorer]], resamples: int = 1000,
                     seed: int = 0, confidence: float = 0.95) -> Bootstrap:
    """Paired bootstrap of every group against ``baseline`` over the validation images.

    Every run's metrics are recomputed on the same ``resamples`` resamples of the images
    (:func:`resample_counts` under ``seed``). A group of K seeds contributes, per resample,
    the mean over K seeds drawn with replacement; groups with the baseline's seeds draw the
    same seeds (paired), others their own.

    Args:
        groups (dict[str, RunGroup]): the groups (:func:`~asl_mmdet.analysis.runs.group_runs`).
        baseline (str): the baseline group's name.
        scorers (dict[str, Scorer | None]): each run's scorer by run name (None: the run kept
            no predictions).
        resamples (int): the number of resamples.
        seed (int): the resampling seed.
        confidence (float): the intervals' coverage.
    """
    result = Bootstrap(baseline, resamples=resamples, seed=seed, confidence=confidence)
    usable = {}
    for name, group in groups.items():
        missing = [run.name for run in group.runs if scorers.get(run.name) is None]
        if missing:
            result.notes.append(f'{name}: no interval, no predictions kept by '
                                f'{", ".join(missing)}')
        else:
            usable[name] = sorted(group.runs, key=lambda run: (run.seed is None, run.seed))
    if baseline not in usable or len(usable) < 2:
        return result
    base_keys = scorers[usable[baseline][0].name].image_keys
    result.num_images = len(base_keys)
    counts = resample_counts(len(base_keys), resamples, seed)
    ones = np.ones((1, len(base_keys)))
    base_seeds = [run.seed for run in usable[baseline]]
    combined, full = {}, {}
    for index, (name, runs) in enumerate(usable.items()):
        values = [_columns_for(scorers[run.name], counts, base_keys) for run in runs]
        fulls = [_columns_for(scorers[run.name], ones, base_keys) for run in runs]
        same_seeds = [run.seed for run in runs] == base_seeds
        draws = seed_draws(len(runs), resamples, seed if same_seeds else seed + 1 + index)
        combined[name] = {m: mean_over_seeds(np.stack([v[m] for v in values]), draws)
                          for m in values[0]}
        full[name] = {m: float(np.mean([f[m][0] for f in fulls])) for m in fulls[0]}
    for name in usable:
        if name != baseline:
            result.intervals[name] = paired_intervals(full[name], combined[name],
                                                      full[baseline], combined[baseline],
                                                      confidence)
    return result


def _mean_std(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


def summary_rows(groups: Dict[str, RunGroup]) -> List[dict]:
    """One row per group: each logged metric (last evaluation) as the single value or the
    mean ± standard deviation over seeds, the median seconds per iteration and its range over
    the logging windows, the peak GPU memory, the number of runs."""
    rows = []
    for name, group in groups.items():
        row = dict(run=name)
        for label, key in group.runs[0].columns:
            values = [v for v in (run.metric(key) for run in group.runs) if v is not None]
            row[label] = _mean_std(values) if values else '-'
        spread = time_spread(group.runs)
        row['s/iter'] = f'{spread[0]:.3f}' if spread else '-'
        row['s/iter range'] = f'{spread[1]:.2f}-{spread[2]:.2f}' if spread else '-'
        memory = [r['memory'] for run in group.runs for r in run.train if 'memory' in r]
        row['mem (MB)'] = str(max(memory)) if memory else '-'
        row['seeds'] = str(len(group.runs))
        rows.append(row)
    return rows


def difference_rows(groups: Dict[str, RunGroup], boot: Bootstrap) -> List[dict]:
    """One row per (group, metric) against the baseline: the difference, its interval and a
    verdict; then the iteration time: the difference of the medians, and whether the two
    ranges of logged times overlap (with fewer than 3 logged windows apart from the start-up,
    a run's spread is unknown and no verdict is given)."""
    rows = []
    base = groups[boot.baseline]
    base_time = time_spread(base.runs)
    for name, group in groups.items():
        if name == boot.baseline:
            continue
        for label, key in group.runs[0].columns:
            interval = boot.intervals.get(name, {}).get(key)
            if interval is None:
                continue
            bounds = ('-' if np.isnan(interval.low) else
                      f'[{interval.low:+.3f}, {interval.high:+.3f}]')
            rows.append({'run': name, 'metric': label,
                         'difference': f'{interval.difference:+.3f}',
                         f'{boot.confidence:.0%} interval': bounds,
                         'verdict': interval.verdict if interval.resamples else '-'})
        spread = time_spread(group.runs)
        if spread and base_time:
            overlap = spread[1] <= base_time[2] and base_time[1] <= spread[2]
            verdict = FEW_WINDOWS if min(spread[3], base_time[3]) < MIN_WINDOWS else (
                WITHIN_SPREAD if overlap else (
                'slower, beyond the spread' if spread[0] > base_time[0] else
                'faster, beyond the spread'))
            ranges = (f'{spread[1]:.2f}-{spread[2]:.2f} vs '
                      f'{base_time[1]:.2f}-{base_time[2]:.2f}')
            rows.append({'run': name, 'metric': 's/iter',
                         'difference': f'{spread[0] - base_time[0]:+.3f}',
                         f'{boot.confidence:.0%} interval': ranges, 'verdict': verdict})
    return rows


def plot_comparison(groups: Dict[str, RunGroup], boot: Optional[Bootstrap], out: str) -> None:
    """Training loss and validation metric curves of every run (one colour per group), and
    the bootstrap intervals against the baseline when there are any, into ``out`` (PNG)."""
    import matplotlib.pyplot as plt  # the tool chose the backend

    panels = 3 if boot is not None and boot.intervals else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4.5))
    ax_loss, ax_metric = axes[0], axes[1]
    for index, group in enumerate(groups.values()):
        colour = f'C{index}'
        for run in group.runs:
            label = run.name if len(group.runs) > 1 else group.name
            steps = [r['step'] for r in run.train]
            ax_loss.plot(steps, [r['loss'] for r in run.train], color=colour,
                         label=f'{label} loss')
            if run.train and 'loss_cls' in run.train[0]:
                ax_loss.plot(steps, [r['loss_cls'] for r in run.train], '--', color=colour,
                             label=f'{label} loss_cls')
            column, key = run.columns[0]
            ax_metric.plot([r['step'] for r in run.val], [
                next(v for k, v in r.items() if k.endswith('/' + key)) for r in run.val],
                'o-', color=colour, label=label)
            ax_metric.set(ylabel=column, title=f'validation {column}')
    ax_loss.set(xlabel='iteration', ylabel='loss', title='training loss (dashed: loss_cls)')
    ax_metric.set(xlabel='iteration')
    if panels == 3:
        ax = axes[2]
        labels, y = [], 0
        for index, (name, intervals) in enumerate(boot.intervals.items(), 1):
            columns = dict((key, label) for label, key in groups[name].runs[0].columns)
            for key, interval in intervals.items():
                low, high = interval.low, interval.high
                ax.errorbar(interval.difference, y, xerr=[[interval.difference - low],
                                                          [high - interval.difference]],
                            fmt='o', color=f'C{list(groups).index(name)}', capsize=3)
                labels.append(f'{name} {columns.get(key, key)}')
                y += 1
        ax.axvline(0, color='k', lw=0.8)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel=f'difference from {boot.baseline}',
               title=f'{boot.confidence:.0%} paired bootstrap intervals '
               f'({boot.num_images} images)')
    for ax in axes:
        ax.grid(alpha=0.3)
    for ax in (ax_loss, ax_metric):
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
