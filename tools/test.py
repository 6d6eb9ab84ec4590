"""Evaluate a checkpoint with MMEngine's Runner; MMDetection's flags."""
import argparse
import os.path as osp

from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmdet.evaluation import DumpDetResults

from asl_mmdet.analysis.predictions import PREDICTIONS_DIR, keep_predictions
from asl_mmdet.utils.runner_setup import (add_common_args, check_files, load_config,
                                          shutdown_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument('--show-dir', help='save painted predictions under work_dir/show_dir')
    parser.add_argument('--keep-predictions', action='store_true',
                        help='write the per-image predictions the metrics scored to '
                        'WORK_DIR/predictions/test.bbox.json (detection: CocoMetric\'s '
                        'results) or test.pkl (classification: DumpResults)')
    add_common_args(parser)
    args = parser.parse_args()
    check_files(parser, config=args.config, checkpoint=args.checkpoint)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must be a .pkl or .pickle file, got {args.out!r}')
    return args


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.keep_predictions:
        kept = keep_predictions(cfg, osp.join(cfg.work_dir, PREDICTIONS_DIR), 'test_evaluator',
                                'test')
        print(f'predictions: {kept}')
    if args.show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise RuntimeError('--show-dir needs a "visualization" hook in default_hooks')
        hooks.visualization.update(draw=True, test_out_dir=args.show_dir)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if args.out is not None:
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()
    shutdown_distributed()


if __name__ == '__main__':
    main()
