"""tools/compare.py's report: per-config metrics over seeds, the difference of every config
from a baseline with its interval and the verdict rule of :mod:`~asl_mmdet.analysis.verdict`
(one primary metric judged, the others descriptive), iteration times with their spread, and a
PNG of curves and intervals."""
import math
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .bootstrap import Interval, resample_counts
from .predictions import Scorer
from .runs import Run, RunGroup, time_spread
from .verdict import DESCRIPTIVE, paired_difference, verdict_of

__all__ = ['Comparison', 'paired_runs', 'compare_groups', 'summary_rows', 'difference_rows',
           'comparison_notes', 'noise_floor', 'seed_mean', 'plot_comparison']

WITHIN_SPREAD = 'within the spread of iteration times'
FEW_WINDOWS = 'too few logged windows to tell'
MIN_WINDOWS = 3  # logged times per config (start-up left out) for a timing verdict
SEEDS_HINT = ('train several seeds of each config for one (tools/demo.py --seeds 3; work dirs '
              'named CONFIG_seed<N>)')


@dataclass
class Comparison:
    """Every group against the baseline: the differences, their intervals and what they hold.

    Attributes:
        baseline (str): the baseline group.
        intervals (dict): group -> logged metric name -> :class:`Interval`.
        seeds (dict): group -> the seeds paired with the baseline's (one entry: one run each,
            an interval over the images).
        num_images (int): the validation images (0 if no run kept its predictions).
        resamples (int): the image resamples of a one-seed comparison.
        seed (int): the resampling seed.
        confidence (float): the intervals' coverage.
        calibration (str, optional): a group of the baseline's loss computed another way.
        notes (list[str]): why a group has no intervals.
    """
    baseline: str
    intervals: Dict[str, Dict[str, Interval]] = field(default_factory=dict)
    seeds: Dict[str, List[Optional[int]]] = field(default_factory=dict)
    num_images: int = 0
    resamples: int = 0
    seed: int = 0
    confidence: float = 0.95
    calibration: Optional[str] = None
    notes: List[str] = field(default_factory=list)


def paired_runs(group: RunGroup, baseline: RunGroup) -> List[Tuple[Run, Run]]:
    """The runs of ``group`` and ``baseline`` with the same seed, in seed order (one run each:
    that pair, whatever their seeds)."""
    if len(group.runs) == 1 and len(baseline.runs) == 1:
        return [(group.runs[0], baseline.runs[0])]
    base = {run.seed: run for run in baseline.runs if run.seed is not None}
    return sorted(((run, base[run.seed]) for run in group.runs if run.seed in base),
                  key=lambda pair: pair[0].seed)


def _columns_for(scorer: Scorer, weights: np.ndarray, base_keys: List) -> Dict[str, np.ndarray]:
    if scorer.image_keys != base_keys:
        if sorted(map(str, scorer.image_keys)) != sorted(map(str, base_keys)):
            raise ValueError(f'{scorer.path!r} scores other validation images than the '
                             'baseline: runs are compared on the same images only')
        position = {str(k): i for i, k in enumerate(base_keys)}
        weights = weights[:, [position[str(k)] for k in scorer.image_keys]]
    return scorer.metrics(weights)


def _full_set(run: Run, scorer: Optional[Scorer]) -> Dict[str, float]:
    """A run's metrics on the full validation set: those of its kept predictions (not rounded)
    where it kept them, else its compared metrics as logged."""
    if scorer is not None:
        return scorer.full()
    values = {key: run.metric(key) for _, key in run.compared}
    return {key: value for key, value in values.items() if value is not None}


def compare_groups(groups: Dict[str, RunGroup], baseline: str,
                   scorers: Dict[str, Optional[Scorer]], resamples: int = 1000,
                   seed: int = 0, confidence: float = 0.95,
                   calibration: Optional[str] = None) -> Comparison:
    """Every group against ``baseline``, with :func:`~asl_mmdet.analysis.verdict.paired_difference`.

    A group is paired with the baseline by seed (:func:`paired_runs`). With two or more paired
    seeds each metric gets the mean of the per-seed differences on the full validation set and
    its Student-t interval (no kept predictions needed). With one run each, both runs'
    metrics are recomputed on the same ``resamples`` resamples of the validation images
    (:func:`~asl_mmdet.analysis.bootstrap.resample_counts` under ``seed``) for the paired
    bootstrap interval, which holds no training noise.

    Args:
        groups (dict[str, RunGroup]): the groups (:func:`~asl_mmdet.analysis.runs.group_runs`).
        baseline (str): the baseline group's name.
        scorers (dict[str, Scorer | None]): each run's scorer by run name (None: the run kept
            no predictions).
        resamples (int): the number of image resamples (one seed).
        seed (int): the resampling seed.
        confidence (float): the intervals' coverage.
        calibration (str, optional): a group of the baseline's loss computed another way.

    Raises:
        ValueError: if ``calibration`` is the baseline or none of the groups.
    """
    if calibration is not None and (calibration == baseline or calibration not in groups):
        raise ValueError(f'the calibration {calibration!r} must be one of the compared '
                         f'configs other than the baseline {baseline!r}: {sorted(groups)}')
    result = Comparison(baseline, resamples=resamples, seed=seed, confidence=confidence,
                        calibration=calibration)
    kept = [scorers[run.name] for run in groups[baseline].runs if scorers.get(run.name)]
    result.num_images = len(kept[0].image_keys) if kept else 0
    for name, group in groups.items():
        if name == baseline:
            continue
        pairs = paired_runs(group, groups[baseline])
        if not pairs:
            result.notes.append(f'{name}: not compared, no seed in common with {baseline} '
                                f'(seeds {group.seeds} and {groups[baseline].seeds})')
            continue
        if len(pairs) > 1:
            values = [(_full_set(a, scorers.get(a.name)), _full_set(b, scorers.get(b.name)))
                      for a, b in pairs]
            keys = [key for key in values[0][0]
                    if all(key in a and key in b for a, b in values)]
            result.intervals[name] = {
                key: paired_difference([a[key] for a, _ in values], [b[key] for _, b in values],
                                       confidence=confidence) for key in keys}
        else:
            (run, base_run), = pairs
            missing = [r.name for r in pairs[0] if scorers.get(r.name) is None]
            if missing:
                result.notes.append(f'{name}: no interval, no predictions kept by '
                                    f'{", ".join(missing)}')
                continue
            base_keys = scorers[base_run.name].image_keys
            counts = resample_counts(len(base_keys), resamples, seed)
            ones = np.ones((1, len(base_keys)))
            a, b = scorers[run.name], scorers[base_run.name]
            full_a, full_b = (_columns_for(x, ones, base_keys) for x in (a, b))
            resampled_a, resampled_b = (_columns_for(x, counts, base_keys) for x in (a, b))
            result.intervals[name] = {
                key: paired_difference(full_a[key], full_b[key], resampled_a[key],
                                       resampled_b[key], confidence) for key in resampled_a}
        result.seeds[name] = [run.seed for run, _ in pairs]
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


def _bounds(interval: Interval) -> str:
    if math.isnan(interval.low):
        return '-'
    return f'[{interval.low:+.3f}, {interval.high:+.3f}]'


def _in_report_order(groups: Dict[str, RunGroup], comparison: Comparison) -> List[str]:
    """The groups compared with the baseline, the calibration first."""
    names = [name for name in groups if name not in (comparison.baseline,
                                                     comparison.calibration)]
    return ([comparison.calibration] if comparison.calibration else []) + names


def difference_rows(groups: Dict[str, RunGroup], comparison: Comparison) -> List[dict]:
    """One row per (group, compared metric) against the baseline, the calibration first: the
    difference, its interval and the verdict (:func:`~asl_mmdet.analysis.verdict.verdict_of` for
    the primary metric, the first; descriptive for the others); then the iteration time: the
    difference of the medians, and whether the two ranges of logged times overlap (with fewer
    than 3 logged windows apart from the start-up, a run's spread is unknown and no verdict is
    given)."""
    rows = []
    interval_column = f'{comparison.confidence:.0%} interval'
    base_time = time_spread(groups[comparison.baseline].runs)
    for name in _in_report_order(groups, comparison):
        group = groups[name]
        label = f'{name} (calibration)' if name == comparison.calibration else name
        for index, (column, key) in enumerate(group.runs[0].compared):
            interval = comparison.intervals.get(name, {}).get(key)
            if interval is None:
                continue
            rows.append({'run': label, 'metric': column,
                         'difference': f'{interval.difference:+.3f}',
                         interval_column: _bounds(interval),
                         'verdict': verdict_of(interval) if index == 0 else DESCRIPTIVE})
        spread = time_spread(group.runs)
        if spread and base_time:
            overlap = spread[1] <= base_time[2] and base_time[1] <= spread[2]
            timing = FEW_WINDOWS if min(spread[3], base_time[3]) < MIN_WINDOWS else (
                WITHIN_SPREAD if overlap else (
                'slower, beyond the spread' if spread[0] > base_time[0] else
                'faster, beyond the spread'))
            ranges = (f'{spread[1]:.2f}-{spread[2]:.2f} vs '
                      f'{base_time[1]:.2f}-{base_time[2]:.2f}')
            rows.append({'run': label, 'metric': 's/iter',
                         'difference': f'{spread[0] - base_time[0]:+.3f}',
                         interval_column: ranges, 'verdict': timing})
    return rows


def comparison_notes(groups: Dict[str, RunGroup], comparison: Comparison) -> List[str]:
    """What the rows of :func:`difference_rows` hold, one line each: the metric judged and the
    descriptive ones, the interval of each seed count (what noise it holds; one seed: none
    about the losses), the calibration, the times."""
    if not comparison.intervals:
        return ['s/iter: medians, ranges over the logging windows']
    compared = [column for column, _ in groups[comparison.baseline].runs[0].compared]
    images = (f'the {comparison.num_images} validation images' if comparison.num_images else
              'the validation set')
    lines = [f'against {comparison.baseline}: the difference of each metric with its '
             f'{comparison.confidence:.0%} interval; the verdict is on {compared[0]}, the '
             'primary metric' + (f'; {", ".join(compared[1:])}: descriptive (intervals not '
                                 'adjusted for multiple comparisons, no verdict)'
                                 if len(compared) > 1 else '')]
    by_seeds: Dict[tuple, List[str]] = {}
    for name in (n for n in _in_report_order(groups, comparison) if n in comparison.seeds):
        by_seeds.setdefault(tuple(comparison.seeds[name]), []).append(name)
    for seeds, names in by_seeds.items():
        if len(seeds) > 1:
            freedom = len(seeds) - 1
            lines.append(f'{", ".join(names)}: {len(seeds)} seeds paired by seed '
                         f'({", ".join(map(str, seeds))}): the mean of the per-seed '
                         f'differences on {images}, Student-t interval ({freedom} '
                         f'degree{"s" if freedom > 1 else ""} of freedom): it holds the '
                         'training noise (seed to seed) on these images')
        else:
            lines.append(f'{", ".join(names)}: one seed: paired bootstrap interval over '
                         f'{images} ({comparison.resamples} resamples, seed {comparison.seed}'
                         '): it holds the evaluation noise of these two trained models on '
                         'these images, not the training noise (seed to seed), which one seed '
                         f'does not measure: no verdict about the losses; {SEEDS_HINT}')
    if comparison.calibration in comparison.intervals:
        lines.append(f'{comparison.calibration} is the calibration, {comparison.baseline}\'s '
                     'loss computed another way: its difference is the noise floor')
    lines.append('s/iter: medians, ranges over the logging windows')
    return lines


def noise_floor(groups: Dict[str, RunGroup], comparison: Comparison) -> Optional[str]:
    """The calibration's difference on the primary metric beside the other groups' (None
    without a calibration)."""
    calibration = comparison.intervals.get(comparison.calibration)
    column, key = groups[comparison.baseline].runs[0].compared[0]
    if not calibration or key not in calibration:
        return None
    others = [f'{name} {comparison.intervals[name][key].difference:+.3f}'
              for name in _in_report_order(groups, comparison)[1:]
              if key in comparison.intervals.get(name, {})]
    return (f'noise floor on {column}: {comparison.calibration} (the same loss as '
            f'{comparison.baseline}) {calibration[key].difference:+.3f} '
            f'{_bounds(calibration[key])}' + (f'; beside it {", ".join(others)}'
                                             if others else ''))


# the paper's Fig. 4 from ASLProbabilityHook's scalars: (key, panel title)
PROBABILITY_PANELS = (('asl_p_pos', '$p_t^+$: mean probability of the positives'),
                      ('asl_p_neg', '$p_t^-$: mean $1 - p$ of the negatives'),
                      ('asl_delta_p', r'$\Delta p = p_t^+ - p_t^-$ (the probability gap)'))


Curve = Tuple[List[float], List[float]]  # (steps, values)


def seed_mean(curves: Sequence[Curve]) -> Curve:
    """The mean of several seeds' curves at the steps that every one of them logged.

    Args:
        curves (Sequence[tuple[list, list]]): each seed's ``(steps, values)``.

    Returns:
        tuple[list, list]: the common steps, in increasing order, and the mean values there
        (empty lists without curves or common steps).
    """
    if not curves:
        return [], []
    common = sorted(set.intersection(*(set(steps) for steps, _ in curves)))
    by_step = [dict(zip(steps, values)) for steps, values in curves]
    return common, [statistics.mean(run[step] for run in by_step) for step in common]


def _plot_seeds(ax, curves: Sequence[Curve], colour: str, label: str,
                marker: Optional[str] = None) -> None:
    """One group's curves on ``ax``: each seed a thin line, their mean a bold one, labelled."""
    for steps, values in curves:
        ax.plot(steps, values, color=colour, lw=0.7, alpha=0.45, marker=marker, ms=2.5)
    steps, means = seed_mean(curves)
    if steps:
        ax.plot(steps, means, color=colour, lw=2.2, label=label, marker=marker, ms=5)


def _training_curves(group: RunGroup, key: str) -> List[Curve]:
    rows = [[(r['step'], r[key]) for r in run.train if key in r] for run in group.runs]
    return [tuple(map(list, zip(*row))) for row in rows if row]


def _metric_curves(group: RunGroup) -> List[Curve]:
    curves = [run.metric_curve(run.columns[0][1]) for run in group.runs]
    return [curve for curve in curves if curve[0]]


def _plot_intervals(ax, groups: Dict[str, RunGroup], comparison: Comparison,
                    finite: Dict[str, Dict[str, Interval]]) -> None:
    labels = []
    for name, intervals in finite.items():
        columns = dict((key, label) for label, key in groups[name].runs[0].columns)
        primary = groups[name].runs[0].compared[0][1]
        for key, interval in intervals.items():
            y = len(labels)
            ax.errorbar(interval.difference, y, xerr=[[interval.difference - interval.low],
                                                      [interval.high - interval.difference]],
                        fmt='o', color=f'C{list(groups).index(name)}', capsize=3,
                        lw=2.2 if key == primary else 1, ms=7 if key == primary else 4)
            seeds = len(comparison.seeds[name])
            calibration = ' (calibration)' if name == comparison.calibration else ''
            labels.append(f'{name}{calibration}\n{columns.get(key, key)}, {seeds} '
                          f'seed{"s" if seeds > 1 else ""}' if key == primary else
                          columns.get(key, key))
    ax.axvline(0, color='k', lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel=f'difference from {comparison.baseline}',
           title=f'{comparison.confidence:.0%} intervals (bold: the judged metric)')


def plot_comparison(groups: Dict[str, RunGroup], comparison: Optional[Comparison],
                    out: str, title: Optional[str] = None) -> None:
    """The runs in one PNG, one colour per config, each seed a thin line and the mean over
    seeds a bold one: the primary metric at every evaluation, the training loss, the finite
    intervals against the baseline (when there are any), and the paper's Fig. 4 where the runs
    logged it (``ASLProbabilityHook``): p_t+, p_t- and the probability gap over training.

    Args:
        groups (dict[str, RunGroup]): the runs by config.
        comparison (Comparison, optional): their intervals against the baseline.
        out (str): the PNG to write.
        title (str, optional): the figure's title (e.g. which model ran).
    """
    import matplotlib.pyplot as plt  # the tool chose the backend

    finite = {} if comparison is None else {
        name: {key: interval for key, interval in intervals.items()
               if math.isfinite(interval.low) and math.isfinite(interval.high)}
        for name, intervals in comparison.intervals.items()}
    finite = {name: intervals for name, intervals in finite.items() if intervals}
    probabilities = any(_training_curves(group, PROBABILITY_PANELS[0][0])
                        for group in groups.values())
    rows = 2 if probabilities else 1
    fig, axes = plt.subplots(rows, 3, figsize=(18, 5 * rows + (0.4 if title else 0)),
                             squeeze=False)
    ax_metric, ax_loss, ax_intervals = axes[0]
    column = next(iter(groups.values())).runs[0].columns[0][0]
    for index, group in enumerate(groups.values()):
        colour = f'C{index}'
        _plot_seeds(ax_metric, _metric_curves(group), colour, group.name, marker='o')
        _plot_seeds(ax_loss, _training_curves(group, 'loss'), colour, group.name)
        for ax, (key, _) in zip(axes[1] if probabilities else (), PROBABILITY_PANELS):
            _plot_seeds(ax, _training_curves(group, key), colour, group.name)
    ax_metric.set(xlabel='iteration', ylabel=column,
                  title=f'validation {column} at each evaluation')
    ax_loss.set(xlabel='iteration', ylabel='loss',
                title='training loss (each config its own loss: scales differ)')
    if finite:
        _plot_intervals(ax_intervals, groups, comparison, finite)
    else:
        ax_intervals.set_axis_off()
        ax_intervals.text(0.5, 0.5, 'no intervals: ' + ('; '.join(comparison.notes)
                                                        if comparison and comparison.notes
                                                        else 'one config or no seeds paired'),
                          ha='center', va='center', wrap=True, fontsize=9)
    for ax, (key, panel) in zip(axes[1] if probabilities else (), PROBABILITY_PANELS):
        ax.set(xlabel='iteration', title=f'{panel} (paper Fig. 4)')
    for ax in axes.flat:
        if ax.has_data():
            ax.grid(alpha=0.3)
    for ax in [ax_metric, ax_loss, *(axes[1] if probabilities else ())]:
        ax.legend(fontsize=8, title='bold: mean over seeds' if ax is ax_metric else None,
                  title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
