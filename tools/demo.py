"""The main jobs on the embedded data: loss pairs trained side by side and compared.

``--task det`` (``make demo``): generates the synthetic COCO-format dataset into data/asl_demo
(first run only), trains configs/atss_r50_focal.py, configs/atss_r50_asl_as_focal.py and
configs/atss_r50_asl.py on it with tools/train.py (small input scale, short schedule:
asl_mmdet.demo) and evaluates each with the COCO metric.

``--task cls`` (``make demo-cls``): the same images as a multi-label dataset (an image's labels
are the classes of its annotated objects), trains configs/resnet50_coco-ml_bce.py,
configs/resnet50_coco-ml_focal.py and configs/resnet50_coco-ml_asl.py (small input scale,
short one-cycle schedule, ResNet-18 in place of ResNet-50 so the runs take minutes on 2 CPU
cores: asl_mmdet.demo) and evaluates mAP and the F1 metrics.

``--task single`` (``make demo-single``): the demo's annotated objects cropped into a
single-label dataset of the same 24 fine-grained classes (colour x shape), trains
configs/resnet50_cub_ce-ls.py (label-smoothed cross-entropy, the baseline) and
configs/resnet50_cub_asl-single-label.py (mmpretrain's CUB-200 recipe: SGD, warm-up and cosine
decay over the demo's iterations, 64x64 crops, ResNet-18 from scratch: asl_mmdet.demo) and
evaluates top-1 and top-5 accuracy.

Every task ends with the tools/compare.py tables and the path of its PNG: each metric, and
against the first config (the baseline: focal loss, BCE, label-smoothed cross-entropy) the
paired difference with its 95% bootstrap interval over the validation images and a verdict
(better, worse, or no difference at this sample size), from the per-image predictions every
evaluation keeps in ``WORK_DIR/predictions/``. ``--seeds K`` trains each config with seeds
0..K-1 into ``WORK_DIR/<config>_seed<N>`` (compare.py groups them by config: mean ± std, and
the seeds resampled in the intervals). Every det and cls run logs the probability gap
(``ASLProbabilityHook``) for tools/analyze_logs.py. ``--configs`` runs other configs of the
task, e.g. ``--task cls --configs resnet50_coco-ml_asl_adaptive``.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys

from asl_mmdet.datasets.synthetic_coco import (ensure_demo_cls_data, ensure_demo_data,
                                               ensure_demo_single_label_data)
from asl_mmdet.demo import demo_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SINGLE_ITERS = 200
TASKS = {
    # task: (configs, iterations, validations per run, input scale, data, work dir)
    'det': (['atss_r50_focal', 'atss_r50_asl_as_focal', 'atss_r50_asl'], 90, 3, 128,
            ensure_demo_data, 'work_dirs/demo'),
    'cls': (['resnet50_coco-ml_bce', 'resnet50_coco-ml_focal', 'resnet50_coco-ml_asl'], 100, 4,
            128, ensure_demo_cls_data, 'work_dirs/demo_cls'),
    'single': (['resnet50_cub_ce-ls', 'resnet50_cub_asl-single-label'], SINGLE_ITERS, 4, 64,
               ensure_demo_single_label_data, 'work_dirs/demo_single'),
}


def main() -> None:
    parser = argparse.ArgumentParser(description='Loss pairs on the embedded data')
    parser.add_argument('--task', choices=sorted(TASKS), default='det',
                        help='det: ATSS focal vs ASL; cls: multi-label BCE, focal, ASL; '
                        'single: single-label label-smoothed CE vs ASL')
    parser.add_argument('--configs', nargs='+', metavar='NAME',
                        help='config names under configs/ in place of the task\'s pair, e.g. '
                        'resnet50_coco-ml_asl_adaptive')
    parser.add_argument('--iters', type=int, help='training iterations per run '
                        f'(det: 90, cls: 100, single: {SINGLE_ITERS})')
    parser.add_argument('--image-size', type=int, help='input scale (det, cls: 128; single: '
                        '64, the crop size)')
    parser.add_argument('--depth', type=int, default=18,
                        help='cls, single: ResNet depth (the configs: 50)')
    parser.add_argument('--work-dir', help='default: work_dirs/demo (det), work_dirs/demo_cls, '
                        'work_dirs/demo_single')
    parser.add_argument('--data-root', default='data/asl_demo')
    parser.add_argument('--seeds', type=int, default=1,
                        help='runs per config, with seeds 0..SEEDS-1 (default: 1, seed 0)')
    parser.add_argument('--resamples', type=int, default=1000,
                        help='bootstrap resamples of the validation images in the comparison')
    args = parser.parse_args()
    runs, iters, validations, image_size, ensure_data, work_root = TASKS[args.task]
    runs = args.configs or runs
    image_size = args.image_size or image_size
    iters = args.iters or iters
    if iters < 1:
        parser.error(f'--iters must be >= 1, got {iters}')
    if args.seeds < 1:
        parser.error(f'--seeds must be >= 1, got {args.seeds}')
    work_root = args.work_dir or work_root

    ensure_data(args.data_root)
    work_dirs = []
    for name in runs:
        for seed in range(args.seeds):
            run = name if args.seeds == 1 else f'{name}_seed{seed}'
            work_dir = osp.join(work_root, run)
            config = osp.join(ROOT, 'configs', f'{name}.py')
            task_args = dict(depth=args.depth) if args.task != 'det' else {}
            cfg = demo_config(config, args.data_root, work_dir, iters,
                              image_size=image_size, seed=seed,
                              val_interval=max(1, iters // validations), **task_args)
            os.makedirs(work_dir, exist_ok=True)
            cfg_path = osp.join(work_dir, f'{name}_demo.py')
            cfg.dump(cfg_path)
            print(f'== training {run} ({iters} iterations, seed {seed}) -> {work_dir}',
                  flush=True)
            subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg_path,
                            '--work-dir', work_dir], check=True)
            work_dirs.append(work_dir)
    out = osp.join(work_root, 'compare.png')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'compare.py'), *work_dirs,
                    '--out', out, '--resamples', str(args.resamples)], check=True)


if __name__ == '__main__':
    main()
