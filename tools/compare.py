"""Compare training runs from their MMEngine work dirs: metrics over seeds, the difference of
every config from a baseline with its interval and a verdict on the primary metric, and a PNG
of curves and intervals.

Usage: python tools/compare.py WORK_DIR [WORK_DIR ...] [--baseline RUN] [--calibration RUN]
                               [--out compare.png] [--resamples 1000] [--bootstrap-seed 0]
                               [--confidence 0.95]

Reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (every timestamp, so a resumed run is one
curve). The first table gives each config's last evaluation (COCO AP, AP50, AP75, APs, APm,
APl for detection; mAP, CP, CR, CF1, OP, OR, OF1 for multi-label classification; top-1 and
top-5 accuracy for single-label classification), as the mean ± standard deviation over its
seeds (work dirs named ``CONFIG_seed<N>``) or the single value, the median seconds per
iteration and their range over the logging windows, and the peak GPU memory. The second gives,
for each config against the baseline (default: the first), the difference of each compared
metric (every AP; mAP; top-1 and top-5) with its interval (asl_mmdet.analysis.verdict): with
several seeds of both, paired by seed, a Student-t interval over the per-seed differences,
which holds the training noise; with one seed, a paired bootstrap interval over the validation
images from the per-image predictions the runs kept (``asl_mmdet.analysis.keep_predictions``),
which holds evaluation noise only and gets no verdict. The primary metric (AP, mAP, top-1)
gets the verdict: better, worse, or no difference at this sample size; the others are
descriptive. ``--calibration`` names a config of the baseline's loss computed another way: its
difference is reported as the noise floor. Last, whether the difference of the iteration times
is within their spread.
"""
import argparse
import os
import os.path as osp
import sys

import matplotlib

matplotlib.use('Agg')

from asl_mmdet.analysis.predictions import load_scorer  # noqa: E402
from asl_mmdet.analysis.report import (comparison_notes, compare_groups,  # noqa: E402
                                       difference_rows, noise_floor, plot_comparison,
                                       summary_rows)
from asl_mmdet.analysis.runs import group_runs, load_run, run_names  # noqa: E402
from asl_mmdet.utils.tables import markdown_table  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Compare MMEngine training runs')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of the runs')
    parser.add_argument('--names', nargs='+',
                        help='run names (default: the shortest distinct path suffixes)')
    parser.add_argument('--baseline', help='the config (or run) the others are compared '
                        'with (default: the first)')
    parser.add_argument('--calibration', help='a config (or run) of the baseline\'s loss '
                        'computed another way, e.g. atss_r50_asl_as_focal against '
                        'atss_r50_focal: its difference is reported as the noise floor')
    parser.add_argument('--out', default='compare.png', help='the PNG to write')
    parser.add_argument('--resamples', type=int, default=1000,
                        help='bootstrap resamples of the validation images (configs of one '
                        'seed)')
    parser.add_argument('--bootstrap-seed', type=int, default=0,
                        help='seed of the resampling (the same seed, the same intervals)')
    parser.add_argument('--confidence', type=float, default=0.95,
                        help='coverage of the intervals')
    parser.add_argument('--title', help='a line above the tables and the figure\'s title, '
                        'e.g. which model ran')
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
        group_of = {run.name: run.group for run in runs}  # a run names its config
        baseline = group_of.get(args.baseline, args.baseline) or next(iter(groups))
        calibration = group_of.get(args.calibration, args.calibration)
        if baseline not in groups:
            raise ValueError(f'--baseline {args.baseline!r} is none of the runs: '
                             f'{sorted(groups)}')
        scorers = {run.name: load_scorer(run.work_dir) for run in runs}
        comparison = compare_groups(groups, baseline, scorers, args.resamples,
                                    args.bootstrap_seed, args.confidence, calibration)
    except (OSError, ValueError) as error:
        sys.exit(f'compare.py: error: {error}')
    if args.title:
        print(args.title)
    print(markdown_table(summary_rows(groups)))
    rows = difference_rows(groups, comparison)
    if rows:
        print('', *comparison_notes(groups, comparison), sep='\n')
        print(markdown_table(rows))
        floor = noise_floor(groups, comparison)
        if floor:
            print(floor)
    for note in comparison.notes:
        print(note)
    try:
        plot_comparison(groups, comparison, args.out, args.title)
    except OSError as error:
        sys.exit(f'compare.py: error: cannot write {args.out!r}: {error}')
    print(f'curves: {args.out}')


if __name__ == '__main__':
    main()
