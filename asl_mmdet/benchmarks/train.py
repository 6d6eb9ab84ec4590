"""Time whole training steps of several configs side by side: ASL vs its baseline siblings.

    python tools/benchmarks/train.py CONFIG_A CONFIG_B [...] [--batch-size 2 8] [--amp]
        [--image-size H W] [--warmup 5] [--iters 20] [--repeats 3]

Builds each model from its config (no pretrained weights are loaded) with the config's optimizer
(MMEngine's ``build_optim_wrapper``; ``AmpOptimWrapper`` with ``--amp``), and times
``model.train_step`` (data preprocessing, forward, loss, backward, optimizer step) on synthetic
images at the config's scale: 1333x800 for detection (MMDetection's ``demo_mm_inputs``: random
images with 1-10 random boxes each), the test pipeline's scale for mmpretrain classifiers (random
images with random multi-hot labels). Each batch size is timed ``--repeats`` times after
``--warmup`` steps (:func:`~asl_mmdet.benchmarks.timing.time_ms`); the table shows the median time per step,
its spread over the repeats (a noise estimate), images per second and peak memory (CUDA), with
ratios to the first config. Configs of one task are compared; run it on the GPU machine for the
numbers in docs/advanced_guides/benchmarks.md.
"""
import argparse
import os.path as osp
import statistics
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

from ..utils.tables import markdown_table
from .timing import time_ms

__all__ = ['build_model', 'synthetic_batch', 'time_steps', 'format_table', 'main']

DETECTION_SCALE = (800, 1333)  # (H, W): MMDetection's 1x COCO training scale


def config_scale(cfg: Config) -> Tuple[int, int]:
    """The (H, W) an mmpretrain config trains at: its test pipeline's Resize."""
    for transform in cfg.val_dataloader.dataset.pipeline:
        scale = transform.get('scale')
        if transform['type'] == 'Resize' and scale is not None:
            w, h = (scale, scale) if isinstance(scale, int) else scale
            return int(h), int(w)
    raise ValueError(f'no Resize with a scale in the test pipeline of {cfg.filename}')


def build_model(cfg: Config, device: str) -> Tuple[torch.nn.Module, str]:
    """The config's model on ``device`` in train mode and its task (``det`` or ``cls``)."""
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmdet')
    init_default_scope(scope)
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # nothing is downloaded
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
        if 'data_preprocessor' not in model_cfg and cfg.get('data_preprocessor'):
            model_cfg.data_preprocessor = cfg.data_preprocessor
        task = 'cls'
    elif scope == 'mmdet':
        from mmdet.registry import MODELS
        task = 'det'
    else:
        raise ValueError(f'{cfg.filename}: default_scope must be mmdet or mmpretrain, '
                         f'got {scope!r}')
    model = MODELS.build(model_cfg).to(device)
    model.init_weights()
    return model.train(), task


def synthetic_batch(task: str, model: torch.nn.Module, batch_size: int,
                    scale: Tuple[int, int], seed: int = 0) -> dict:
    """A batch of random uint8 images of ``scale`` (H, W) with random targets."""
    h, w = scale
    if task == 'det':
        from mmdet.testing import demo_mm_inputs
        return demo_mm_inputs(batch_size, image_shapes=(3, h, w),
                              num_classes=model.bbox_head.num_classes)
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(seed)
    num_classes = model.head.num_classes
    inputs = [torch.randint(0, 256, (3, h, w), generator=gen, dtype=torch.uint8)
              for _ in range(batch_size)]
    samples = []
    for _ in range(batch_size):
        labels = torch.randperm(num_classes, generator=gen)[:int(torch.randint(
            1, 4, (1, ), generator=gen))]
        samples.append(DataSample().set_gt_label(labels.sort().values))
    return dict(inputs=inputs, data_samples=samples)


def time_steps(model: torch.nn.Module, optim_wrapper, batch: dict, device: str, warmup: int,
               iters: int, repeats: int) -> Tuple[List[float], Optional[float]]:
    """Seconds per training step for each repeat, and the peak CUDA memory (MB) or None."""
    for _ in range(warmup):
        model.train_step(batch, optim_wrapper)
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    per_step = time_ms(lambda: model.train_step(batch, optim_wrapper), device, iters=iters,
                       repeats=repeats)
    memory = torch.cuda.max_memory_allocated() / 2**20 if device == 'cuda' else None
    return [ms / 1e3 for ms in per_step], memory


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise SystemExit(f'{name} must be >= 1, got {value}')


def main(argv: Optional[List[str]] = None) -> List[Dict]:
    parser = argparse.ArgumentParser(description='Training-step time of configs side by side')
    parser.add_argument('configs', nargs='+', help='config files; ratios are to the first')
    parser.add_argument('--batch-size', type=int, nargs='+', default=[2],
                        help='batch sizes to time (each is one row per config)')
    parser.add_argument('--image-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="input (H, W); default: the config's scale")
    parser.add_argument('--amp', action='store_true', help='AmpOptimWrapper (CUDA only)')
    parser.add_argument('--warmup', type=int, default=5, help='untimed steps first')
    parser.add_argument('--iters', type=int, default=20, help='timed steps per repeat')
    parser.add_argument('--repeats', type=int, default=3, help='timed repeats (noise)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    args = parser.parse_args(argv)
    _positive('--iters', args.iters)
    _positive('--repeats', args.repeats)
    if args.warmup < 0:
        raise SystemExit(f'--warmup must be >= 0, got {args.warmup}')
    for batch_size in args.batch_size:
        _positive('--batch-size', batch_size)
    if args.amp and args.device != 'cuda':
        raise SystemExit(f'--amp needs CUDA, got --device {args.device}')

    rows = []
    for path in args.configs:
        cfg = Config.fromfile(path)
        model, task = build_model(cfg, args.device)
        scale = tuple(args.image_size) if args.image_size else (
            DETECTION_SCALE if task == 'det' else config_scale(cfg))
        wrapper_cfg = cfg.optim_wrapper.copy()
        if args.amp:
            wrapper_cfg.type = 'AmpOptimWrapper'
            wrapper_cfg.loss_scale = 'dynamic'
        optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
        for batch_size in args.batch_size:
            batch = synthetic_batch(task, model, batch_size, scale)
            times, memory = time_steps(model, optim_wrapper, batch, args.device, args.warmup,
                                       args.iters, args.repeats)
            median = statistics.median(times)
            rows.append(dict(config=osp.splitext(osp.basename(path))[0], batch=batch_size,
                             amp='yes' if args.amp else 'no', size=f'{scale[0]}x{scale[1]}',
                             median=median, spread=(max(times) - min(times)) / median,
                             memory=memory))
        del model, optim_wrapper
        if args.device == 'cuda':
            torch.cuda.empty_cache()
    for row in rows:  # ratios to the first config at the same batch size
        first = next(r for r in rows if r['batch'] == row['batch'])
        row['time_ratio'] = row['median'] / first['median']
        row['mem_ratio'] = (None if row['memory'] is None or not first['memory'] else
                            row['memory'] / first['memory'])
    rows.sort(key=lambda r: r['batch'])
    print(format_table(rows, args.device))
    return rows


def format_table(rows: List[Dict], device: str) -> str:
    name = torch.cuda.get_device_name() if device == 'cuda' else 'CPU'
    return markdown_table([{
        'config': r['config'], 'batch': r['batch'], 'amp': r['amp'], 'H x W': r['size'],
        's/step': f'{r["median"]:.4f}', 'spread': f'{100 * r["spread"]:.1f}%',
        'img/s': f'{r["batch"] / r["median"]:.3g}',
        'peak MB': '-' if r['memory'] is None else f'{r["memory"]:.0f}',
        'time ratio': f'{r["time_ratio"]:.3f}',
        'mem ratio': '-' if r['mem_ratio'] is None else f'{r["mem_ratio"]:.3f}',
    } for r in rows], f'device: {name}')
