"""Compare training runs from their MMEngine work dirs: a metric table and a PNG of curves.

Usage: python tools/compare.py WORK_DIR_A WORK_DIR_B [...] [--out compare.png]

Reads ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (every timestamp, so a resumed run is one
curve) and prints the last evaluation's metrics, the median seconds per training iteration and
the peak GPU memory (MB, '-' on the CPU). Detection runs show COCO AP, AP50, AP75, APs, APm, APl;
multi-label classification runs (mmpretrain) show mAP, CP, CR, CF1, OP, OR, OF1.
"""
import argparse
import os.path as osp
import statistics
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

from asl_mmdet.utils.scalars import read_scalars  # noqa: E402

DETECTION_METRICS = [('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'), ('AP75', 'bbox_mAP_75'),
                     ('APs', 'bbox_mAP_s'), ('APm', 'bbox_mAP_m'), ('APl', 'bbox_mAP_l')]
# mmpretrain's AveragePrecision and MultiLabelMetric (macro: C*, micro: O*), in percent
CLASSIFICATION_METRICS = [('mAP', 'mAP'), ('CP', 'precision'), ('CR', 'recall'),
                          ('CF1', 'f1-score'), ('OP', 'precision_micro'),
                          ('OR', 'recall_micro'), ('OF1', 'f1-score_micro')]


def _value(record: dict, key: str) -> Optional[float]:
    """The value of metric ``key`` in a validation record, whatever its prefix."""
    return next((v for k, v in record.items() if k.endswith('/' + key)), None)


def metrics_of(scalars: Dict[str, List[dict]]) -> List[Tuple[str, str]]:
    """The metric columns of a run: detection's or classification's."""
    record = scalars['val'][-1] if scalars['val'] else {}
    if _value(record, 'mAP') is not None:
        return CLASSIFICATION_METRICS
    return DETECTION_METRICS


def load_scalars(work_dir: str) -> Dict[str, List[dict]]:
    """Training and validation records of a work dir, in logging order."""
    train, val = [], []
    for record in read_scalars(work_dir):
        if any(key.endswith(('/bbox_mAP', '/mAP')) for key in record):
            val.append(record)
        elif 'loss' in record:
            train.append(record)
    return dict(train=train, val=val)


def summarise(name: str, scalars: Dict[str, List[dict]]) -> dict:
    row = dict(run=name)
    last_val = scalars['val'][-1] if scalars['val'] else {}
    for label, key in metrics_of(scalars):
        value = _value(last_val, key)
        row[label] = '-' if value is None else f'{value:.3f}'
    times = [r['time'] for r in scalars['train'] if 'time' in r]
    row['s/iter'] = f'{statistics.median(times):.3f}' if times else '-'
    memory = [r['memory'] for r in scalars['train'] if 'memory' in r]
    row['mem (MB)'] = str(max(memory)) if memory else '-'
    return row


def format_table(rows: List[dict]) -> str:
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(columns, widths)) + ' |',
             '|' + '|'.join('-' * (w + 2) for w in widths) + '|']
    lines += ['| ' + ' | '.join(str(r[c]).ljust(w) for c, w in zip(columns, widths)) + ' |'
              for r in rows]
    return '\n'.join(lines)


def plot(runs: Dict[str, Dict[str, List[dict]]], out: str) -> None:
    fig, (ax_loss, ax_ap) = plt.subplots(1, 2, figsize=(12, 4.5))
    for index, (name, scalars) in enumerate(runs.items()):
        colour = f'C{index}'
        steps = [r['step'] for r in scalars['train']]
        ax_loss.plot(steps, [r['loss'] for r in scalars['train']], color=colour,
                     label=f'{name} loss')
        if scalars['train'] and 'loss_cls' in scalars['train'][0]:
            ax_loss.plot(steps, [r['loss_cls'] for r in scalars['train']], '--', color=colour,
                         label=f'{name} loss_cls')
        val_steps = [r['step'] for r in scalars['val']]
        label, key = metrics_of(scalars)[0]
        ax_ap.plot(val_steps, [_value(r, key) for r in scalars['val']], 'o-', color=colour,
                   label=name)
        ax_ap.set(ylabel=label, title=f'validation {label}')
    ax_loss.set(xlabel='iteration', ylabel='loss', title='training loss (dashed: loss_cls)')
    ax_ap.set(xlabel='iteration')
    for ax in (ax_loss, ax_ap):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description='Compare MMEngine training runs')
    parser.add_argument('work_dirs', nargs='+', help='work dirs of the runs')
    parser.add_argument('--names', nargs='+', help='run names (default: the dir names)')
    parser.add_argument('--out', default='compare.png', help='the PNG to write')
    args = parser.parse_args()
    names = args.names or [osp.basename(osp.normpath(d)) for d in args.work_dirs]
    if len(names) != len(args.work_dirs):
        raise ValueError(f'--names has {len(names)} names for {len(args.work_dirs)} work dirs')
    runs = {name: load_scalars(d) for name, d in zip(names, args.work_dirs)}
    print(format_table([summarise(name, scalars) for name, scalars in runs.items()]))
    plot(runs, args.out)
    print(f'curves: {args.out}')


if __name__ == '__main__':
    main()
