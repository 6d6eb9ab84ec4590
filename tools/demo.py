"""The main jobs on the embedded data: loss pairs trained side by side and compared.

``--task det`` (``make demo``): generates the synthetic COCO-format dataset into data/asl_demo
(first run only), trains configs/atss_r50_focal.py, configs/atss_r50_asl_as_focal.py and
configs/atss_r50_asl.py on it with tools/train.py and evaluates each with the COCO metric. The
configs keep their loss; the demo's overrides (asl_mmdet.demo, ``DEMO_TASKS``) swap in a lighter
ATSS (ResNet-18 at half width, FPN and head at 64 channels, 2 stacked convs, anchors sized for
the demo's objects), 128 px inputs, 330 iterations at a constant learning rate after the warm-up,
the EMA of the weights evaluated every 110 iterations, and no pretrained weights; five seeds.

``--task cls`` (``make demo-cls``): the same images as a multi-label dataset (an image's labels
are the classes of its annotated objects), trains configs/resnet50_coco-ml_bce.py,
configs/resnet50_coco-ml_asl_as_bce.py, configs/resnet50_coco-ml_focal.py and
configs/resnet50_coco-ml_asl.py (small input scale, short one-cycle schedule, ResNet-18 at half
width in place of ResNet-50, without the recipe's Cutout and RandAugment, which change the demo
images' labels) and evaluates mAP and the F1 metrics.

``--task single`` (``make demo-single``): the demo's annotated objects cropped into a
single-label dataset of the same 24 fine-grained classes (colour x shape), trains
configs/resnet50_cub_ce-ls.py (label-smoothed cross-entropy, the baseline),
configs/resnet50_cub_asl-single-label_as_ce-ls.py and configs/resnet50_cub_asl-single-label.py
(mmpretrain's CUB-200 recipe: SGD, warm-up and cosine decay over the demo's iterations, 64x64
crops, ResNet-18 from scratch) and evaluates top-1 and top-5 accuracy.

Every task trains each config with the same seeds (``--seeds``; runs pair by seed; every
config's seed 0 first, then seed 1, ...) into ``WORK_DIR/<config>_seed<N>``, ``--jobs`` runs at
once (default: one per CPU core, each on one thread). The console shows one progress bar per
run (iterations, elapsed, ETA, the last logged loss and metric); each run's
whole output is in ``WORK_DIR/<run>/train.log``, and a run that fails stops the demo with the
tail of its log. The demo ends with the tools/compare.py tables and the path of its PNG: each
metric as mean ± std over the seeds, and against the first config (the baseline: focal loss,
BCE, label-smoothed cross-entropy) the mean of the per-seed differences with its 95% Student-t
interval, a verdict on the primary metric (AP, mAP, top-1: better, worse, or no difference at
this sample size) and the others descriptive. Each task's baseline loss computed by asl_mmdet
(``atss_r50_asl_as_focal``, ``resnet50_coco-ml_asl_as_bce``,
``resnet50_cub_asl-single-label_as_ce-ls``) is passed as ``--calibration``: its difference from
the baseline is the noise floor. ``--seeds 1`` trains one run per config into
``WORK_DIR/<config>``, whose intervals, over the validation images only, get no verdict;
``--iters`` shortens the runs. Every det and cls run logs the probability gap
(``ASLProbabilityHook``) for the picture's Fig. 4 panels and tools/analyze_logs.py, and keeps
the per-image predictions of its last evaluation in ``WORK_DIR/<run>/predictions/``.
``--configs`` runs other configs of the task, e.g. ``--task cls --configs
resnet50_coco-ml_bce resnet50_coco-ml_asl_adaptive``.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

from asl_mmdet.demo import DEMO_TASKS, demo_config
from asl_mmdet.utils.progress import RunFailed, available_cores, run_all, thread_groups

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
LOG_NAME = 'train.log'  # each run's whole console output, in its work dir


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Loss pairs on the embedded data')
    parser.add_argument('--task', choices=sorted(DEMO_TASKS), default='det',
                        help='det: ATSS focal vs ASL; cls: multi-label BCE, focal, ASL; '
                        'single: single-label label-smoothed CE vs ASL (each with a '
                        'calibration: the baseline loss computed by asl_mmdet)')
    parser.add_argument('--configs', nargs='+', metavar='NAME',
                        help='config names under configs/ in place of the task\'s, e.g. '
                        'resnet50_coco-ml_asl_adaptive')
    defaults = ', '.join(f'{name}: {task.iters}' for name, task in DEMO_TASKS.items())
    parser.add_argument('--iters', type=int, help=f'training iterations per run ({defaults})')
    parser.add_argument('--image-size', type=int, help='input scale (det, cls: 128; single: '
                        '64, the crop size)')
    parser.add_argument('--depth', type=int, help='ResNet depth in place of the task\'s '
                        '(18; the configs: 50)')
    parser.add_argument('--work-dir', help='default: work_dirs/demo (det), work_dirs/demo_cls, '
                        'work_dirs/demo_single')
    parser.add_argument('--data-root', default='data/asl_demo')
    seeds = ', '.join(f'{name}: {task.seeds}' for name, task in DEMO_TASKS.items())
    parser.add_argument('--seeds', type=int, help='runs per config, with seeds 0..SEEDS-1, the '
                        f'same for every config ({seeds}; 1: no verdict about the losses)')
    parser.add_argument('--jobs', type=int, help='runs trained at once, each with CORES // JOBS '
                        'threads (default: one per CPU core, at most the number of runs; small '
                        'models train faster one thread each side by side than one after '
                        'another on every core)')
    parser.add_argument('--resamples', type=int, default=1000,
                        help='bootstrap resamples of the validation images (one seed)')
    args = parser.parse_args()
    task = DEMO_TASKS[args.task]
    for name in ('iters', 'seeds'):
        if getattr(args, name) is None:
            setattr(args, name, getattr(task, name))
        elif getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if args.jobs is not None and args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    return args


def main() -> None:
    args = parse_args()
    task = DEMO_TASKS[args.task]
    configs = args.configs or task.configs
    image_size = args.image_size or task.image_size
    work_root = args.work_dir or task.work_dir
    overrides = dict(task.run_overrides(args.iters), image_size=image_size)
    if args.depth is not None:
        overrides['depth'] = args.depth
    model = task.model if args.depth is None else f'ResNet-{args.depth}'
    start = time.monotonic()
    task.ensure_data(args.data_root)
    runs = len(configs) * args.seeds
    cores = available_cores()
    jobs = min(args.jobs or cores, runs)
    # the runs left over after the last full group share every core (run_all)
    groups = thread_groups(runs, jobs, cores)
    threads, last = groups[0][2], ''
    if len(groups) > 1 and groups[-1][2] > threads:
        count, _, more = groups[-1]
        last = (f' (the last run alone on {more} threads)' if count == 1 else
                f' (the last {count} runs on {more} threads each)')
    print(f'{runs} runs: {", ".join(configs)} x seeds 0-{args.seeds - 1}; {model}, '
          f'{image_size} px, {args.iters} iterations each, data in {args.data_root}; '
          f'{jobs} at once, {threads} thread{"s" * (threads > 1)} each{last}')
    print(f'each run\'s full log: {work_root}/<run>/{LOG_NAME}', flush=True)
    plan = []
    # every config's seed 0, then every config's seed 1, ...: the runs of one seed train side
    # by side, and the machine's drift in load falls on every config alike
    for seed in range(args.seeds):
        for name in configs:
            run = name if args.seeds == 1 else f'{name}_seed{seed}'
            work_dir = osp.join(work_root, run)
            config = osp.join(ROOT, 'configs', f'{name}.py')
            cfg = demo_config(config, args.data_root, work_dir, args.iters, seed=seed,
                              val_interval=task.val_interval(args.iters), **overrides)
            os.makedirs(work_dir, exist_ok=True)
            cfg_path = osp.join(work_dir, f'{name}_demo.py')
            cfg.dump(cfg_path)
            command = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg_path,
                       '--work-dir', work_dir]
            plan.append((run, command, osp.join(work_dir, LOG_NAME)))
    try:
        run_all(plan, args.iters, jobs, cores=cores)
    except RunFailed as error:
        print('\n'.join(error.tail), file=sys.stderr)
        sys.exit(f'demo.py: error: {error.name} failed (exit status {error.returncode}); the '
                 f'last {len(error.tail)} lines of its log are above, the whole log is '
                 f'{error.log}')
    work_dirs = [osp.dirname(log) for _, _, log in plan]
    out = osp.join(work_root, 'compare.png')
    calibration = ['--calibration', task.calibration] if task.calibration in configs else []
    title = f'{model}, {image_size} px, {args.iters} iterations, {args.seeds} seeds'
    compared = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'compare.py'),
                               *work_dirs, '--out', out, '--resamples', str(args.resamples),
                               '--title', title, *calibration])
    if compared.returncode:
        sys.exit(f'demo.py: error: tools/compare.py failed (exit status {compared.returncode})')
    print(f'== {len(work_dirs)} runs trained and compared in '
          f'{(time.monotonic() - start) / 60:.1f} minutes')


if __name__ == '__main__':
    main()
