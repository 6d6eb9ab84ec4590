"""Train a detector (or classifier) with MMEngine's Runner; MMDetection's flags."""
import argparse

from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from asl_mmdet.utils.runner_setup import (add_common_args, check_files, load_config,
                                          shutdown_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the LR by the actual batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='checkpoint to resume from; without a path, the latest '
                        'checkpoint of the work dir')
    add_common_args(parser)
    args = parser.parse_args()
    check_files(parser, config=args.config,
                __resume=None if args.resume in (None, 'auto') else args.resume)
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                               'config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    shutdown_distributed()


if __name__ == '__main__':
    main()
