"""The paper's probability figures from the scalars that ASL training runs log
(``tools/analyze_logs.py``).

Usage: python tools/analyze_logs.py WORK_DIR [WORK_DIR ...] [--fig 4 9] [--out-dir DIR] [--svg]

Reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (every timestamp: a resumed run is one
curve, a run restarted in the same work dir counts from its newest start) and draws, with
several runs overlaid and labelled by their work dir names (or ``--names``):

- Fig. 4 (``fig4_probabilities.png``): ``p_t+`` (``asl_p_pos``) and ``p_t-`` (``asl_p_neg``,
  the mean of ``1 - p`` over the negatives) vs iteration;
- Fig. 9 (``fig9_adaptive_asymmetry.png``): ``gamma-`` (``asl_gamma_neg``) and
  ``delta p = p_t+ - p_t-`` (``asl_delta_p``) vs iteration, in two panels.

A run that lacks a figure's scalars is left out of that figure with a message naming it and
the missing key; a figure that no run has the scalars for is an error (exit status 1).
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .figures import save_figure  # noqa: E402
from .logs import read_scalars, training_records  # noqa: E402

__all__ = ['FIGURES', 'load_runs', 'runs_with_keys', 'series', 'plot_probabilities',
           'plot_adaptive_asymmetry', 'main']

Runs = Dict[str, List[dict]]

FIGURES = {
    4: dict(keys=('asl_p_pos', 'asl_p_neg'), name='fig4_probabilities'),
    9: dict(keys=('asl_gamma_neg', 'asl_delta_p'), name='fig9_adaptive_asymmetry'),
}


def load_runs(work_dirs: List[str], names: List[str]) -> Runs:
    """The training records of each work dir (see :func:`training_records`), by run name.

    Args:
        work_dirs (list[str]): MMEngine work dirs.
        names (list[str]): one unique name per work dir.

    Returns:
        dict[str, list[dict]]: the records of each run, in increasing ``iter``.
    """
    if len(names) != len(work_dirs):
        raise ValueError(f'names has {len(names)} names for {len(work_dirs)} work dirs')
    if len(set(names)) != len(names):
        raise ValueError(f'run names must be unique, got {names} (use --names)')
    return {name: training_records(read_scalars(d)) for name, d in zip(names, work_dirs)}


def runs_with_keys(runs: Runs, keys: Tuple[str, ...]) -> Tuple[Runs, List[str]]:
    """The runs whose records hold every one of ``keys``, and a message per run left out.

    Args:
        runs (dict[str, list[dict]]): training records by run name.
        keys (tuple[str]): the scalar names a figure needs.

    Returns:
        tuple[dict[str, list[dict]], list[str]]: the runs kept, and for each run left out
        ``"run 'NAME': no 'KEY' in its scalars"``.
    """
    kept, messages = {}, []
    for name, records in runs.items():
        missing = [key for key in keys if not any(key in record for record in records)]
        if missing:
            messages.append(f"run {name!r}: no {missing[0]!r} in its scalars")
        else:
            kept[name] = records
    return kept, messages


def series(records: List[dict], key: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(iters, values)`` of the records that hold ``key``."""
    rows = [(record['iter'], record[key]) for record in records if key in record]
    iters, values = zip(*rows) if rows else ((), ())
    return np.asarray(iters, dtype=np.int64), np.asarray(values, dtype=np.float64)


def plot_probabilities(runs: Runs, out_dir: str, svg: bool = False, dpi: int = 100) -> List[str]:
    """Fig. 4: ``p_t+`` (solid) and ``p_t-`` (dashed) vs iteration; the paths written."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for index, (name, records) in enumerate(runs.items()):
        ax.plot(*series(records, 'asl_p_pos'), '-', color=f'C{index}', label=f'{name}: $p_t^+$')
        ax.plot(*series(records, 'asl_p_neg'), '--', color=f'C{index}',
                label=f'{name}: $p_t^-$')
    ax.set(xlabel='iteration', ylabel='mean probability $p_t$', ylim=(0, 1.02),
           title='Positives $p_t^+$ (solid) and negatives $p_t^-$ (dashed) (paper Fig. 4)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_dir, FIGURES[4]['name'], svg, dpi)


def plot_adaptive_asymmetry(runs: Runs, out_dir: str, svg: bool = False,
                            dpi: int = 100) -> List[str]:
    """Fig. 9: ``gamma-`` (top) and ``delta p`` (bottom) vs iteration; the paths written."""
    fig, (ax_gamma, ax_delta) = plt.subplots(2, 1, sharex=True, figsize=(7, 5.5))
    for index, (name, records) in enumerate(runs.items()):
        ax_gamma.plot(*series(records, 'asl_gamma_neg'), color=f'C{index}', label=name)
        ax_delta.plot(*series(records, 'asl_delta_p'), color=f'C{index}', label=name)
    ax_delta.axhline(0, color='0.5', lw=0.8)
    ax_gamma.set(ylabel='$\\gamma_-$', title='Adaptive asymmetry (paper Fig. 9)')
    ax_delta.set(xlabel='iteration', ylabel='$\\Delta p = p_t^+ - p_t^-$')
    for ax in (ax_gamma, ax_delta):
        ax.grid(alpha=0.3)
    ax_gamma.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_dir, FIGURES[9]['name'], svg, dpi)


PLOTTERS = {4: plot_probabilities, 9: plot_adaptive_asymmetry}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Draw the paper's Fig. 4 (p_t+, p_t-) and Fig. 9 (gamma-, delta p) "
        'from MMEngine work dirs')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of the runs')
    parser.add_argument('--names', nargs='+', help='run names (default: the dir names)')
    parser.add_argument('--fig', nargs='+', type=int, choices=sorted(FIGURES),
                        default=sorted(FIGURES), help='which figures to draw (default: all)')
    parser.add_argument('--out-dir', default='work_dirs/analysis',
                        help='where to write the figures')
    parser.add_argument('--svg', action='store_true', help='also write SVG files')
    parser.add_argument('--dpi', type=int, default=100, help='PNG resolution')
    args = parser.parse_args(argv)
    if args.names is not None and len(args.names) != len(args.work_dirs):
        parser.error(f'--names has {len(args.names)} names for {len(args.work_dirs)} work dirs')
    if args.dpi <= 0:
        parser.error(f'--dpi must be positive, got {args.dpi}')
    return args


def main(argv: Optional[List[str]] = None) -> None:
    """Write the requested figures and print their paths; exit 1 if one has no run."""
    args = parse_args(argv)
    names = args.names or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    try:
        runs = load_runs(args.work_dirs, names)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'analyze_logs.py: error: {error}')
    selected = {}
    for number in dict.fromkeys(args.fig):
        keys = FIGURES[number]['keys']
        selected[number], messages = runs_with_keys(runs, keys)
        for message in messages:
            print(f'Fig. {number}: skipping {message}', file=sys.stderr)
        if not selected[number]:
            sys.exit(f'analyze_logs.py: error: no run has the scalars of Fig. {number} '
                     f'({", ".join(keys)}) among {", ".join(map(repr, runs))}')
    os.makedirs(args.out_dir, exist_ok=True)
    for number, kept in selected.items():
        for path in PLOTTERS[number](kept, args.out_dir, args.svg, args.dpi):
            print(path)


if __name__ == '__main__':
    main()
