"""Compare training runs from their MMEngine work dirs: metrics over seeds, paired bootstrap
differences against a baseline with a verdict per metric, and a PNG of curves and intervals.

Usage: python tools/compare.py WORK_DIR [WORK_DIR ...] [--baseline RUN] [--out compare.png]
                               [--resamples 1000] [--bootstrap-seed 0] [--confidence 0.95]

Reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (every timestamp, so a resumed run is one
curve). The first table gives each config's last evaluation (COCO AP, AP50, AP75, APs, APm,
APl for detection; mAP, CP, CR, CF1, OP, OR, OF1 for multi-label classification; top-1 and
top-5 accuracy for single-label classification), as the mean
± standard deviation over its seeds (work dirs named ``CONFIG_seed<N>``) or the single value,
the median seconds per iteration and their range over the logging windows, and the peak GPU
memory. The second gives, for each config against the baseline (default: the first), the
difference of each metric with its paired bootstrap interval over the validation images, from
the per-image predictions the runs kept (``asl_mmdet.analysis.keep_predictions``), and a
verdict: better, worse, or no difference at this sample size; and whether the difference of
the iteration times is within their spread.
"""
import argparse
import os
import os.path as osp
import sys

import matplotlib

matplotlib.use('Agg')

from asl_mmdet.analysis.predictions import load_scorer  # noqa: E402
from asl_mmdet.analysis.report import (bootstrap_groups, difference_rows,  # noqa: E402
                                       plot_comparison, summary_rows)
from asl_mmdet.analysis.runs import group_runs, load_run, run_names  # noqa: E402
from asl_mmdet.utils.tables import markdown_table  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Compare MMEngine training runs')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of the runs')
    parser.add_argument('--names', nargs='+',
                        help='run names (default: the shortest distinct path suffixes)')
    parser.add_argument('--baseline', help='the config (or run) the others are compared '
                        'with (default: the first)')
    parser.add_argument('--out', default='compare.png', help='the PNG to write')
    parser.add_argument('--resamples', type=int, default=1000,
                        help='bootstrap resamples of the validation images')
    parser.add_argument('--bootstrap-seed', type=int, default=0,
                        help='seed of the resampling (the same seed, the same intervals)')
    parser.add_argument('--confidence', type=float, default=0.95,
                        help='coverage of the intervals')
    args = parser.parse_args()
    for work_dir in args.work_dirs:
        if not osp.isdir(work_dir):
            parser.error(f'work dir {work_dir!r} does not exist')
    if args.names is not None and len(args.names) != len(args.work_dirs):
        parser.error(f'--names has {len(args.names)} names for {len(args.work_dirs)} work dirs')
    if args.names is not None and len(set(args.names)) != len(args.names):
        parser.error(f'--names repeats a name: {args.names}')
    if not args.out.lower().endswith('.png'):
        parser.error(f'--out must be a .png file, got {args.out!r}')
    out_dir = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(out_dir) or not os.access(out_dir, os.W_OK):
        parser.error(f'--out {args.out!r}: {out_dir!r} is not a writable directory')
    if args.resamples < 1:
        parser.error(f'--resamples must be >= 1, got {args.resamples}')
    if not 0 < args.confidence < 1:
        parser.error(f'--confidence must be in (0, 1), got {args.confidence}')
    return args


def main() -> None:
    args = parse_args()
    try:
        names = args.names or run_names(args.work_dirs)
        runs = [load_run(d, name) for d, name in zip(args.work_dirs, names)]
        groups = group_runs(runs)
        baseline = args.baseline or next(iter(groups))
        baseline = next((run.group for run in runs if run.name == baseline), baseline)
        if baseline not in groups:
            raise ValueError(f'--baseline {args.baseline!r} is none of the runs: '
                             f'{sorted(groups)}')
        scorers = {run.name: load_scorer(run.work_dir) for run in runs}
        boot = bootstrap_groups(groups, baseline, scorers, args.resamples, args.bootstrap_seed,
                                args.confidence)
    except (OSError, ValueError) as error:
        sys.exit(f'compare.py: error: {error}')
    print(markdown_table(summary_rows(groups)))
    rows = difference_rows(groups, boot)
    if rows:
        seeds = any(len(g.runs) > 1 for g in groups.values())
        print(f'\nagainst {baseline}: paired differences, {boot.confidence:.0%} bootstrap '
              f'intervals over the {boot.num_images} validation images ({boot.resamples} '
              f'resamples, seed {boot.seed}{"; seeds resampled too" if seeds else ""}); '
              's/iter: medians, ranges over the logging windows')
        print(markdown_table(rows))
    for note in boot.notes:
        print(note)
    try:
        plot_comparison(groups, boot, args.out)
    except OSError as error:
        sys.exit(f'compare.py: error: cannot write {args.out!r}: {error}')
    print(f'curves: {args.out}')


if __name__ == '__main__':
    main()
