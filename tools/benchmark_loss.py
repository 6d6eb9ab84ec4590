"""Benchmark the fused Asymmetric Loss against the alternatives, forward + backward.

Usage: python tools/benchmark_loss.py [--device cuda|cpu] [--iters 20] [--warmup 3]
                                      [--shapes 44800x80:fp32,...] [--no-compile]

For each shape (issue 3's five by default) and implementation it prints, from one run:

* op time: ``loss = fn(x, target); loss.backward()`` through autograd, the median of
  ``--iters`` runs after ``--warmup`` (CUDA events, the GPU idle before each run), with its
  ratio to the fused kernel;
* kernel time: the device time of the kernels of one forward + backward (torch.profiler's
  kernel durations, summed, averaged over ``--iters`` runs), so host overhead is left out;
* peak extra memory: the peak allocated during one forward + backward above what was allocated
  before it (the gradient of the logits included), in MiB and in units of the logits' size.

Implementations: ``fused`` (:func:`asymmetric_loss_fused`), ``ref`` (asl_mmdet's plain-PyTorch
reference, eager), ``official`` (the official implementation's formula on one-hot targets,
eager) and ``compile(official)`` (the same under ``torch.compile``: the closed-form reference's
data-dependent ops would make Dynamo fall back to eager), ``mmcv focal`` (MMDetection's
``FocalLoss``, i.e. mmcv's CUDA op; skipped when ``mmcv.ops`` does not import or the dtype is
not supported) and ``copy floor`` (``(x * 1).sum()``). ASL runs with the paper's MS-COCO setting
(gamma_pos=0, gamma_neg=4, clip=0.05) on class-index targets with background, the focal loss
with MMDetection's defaults.

Without CUDA it says so and exits; ``--device cpu`` is a smoke run on tiny shapes (the fused
kernels under ``TRITON_INTERPRET=1``; times on the CPU are not meaningful).
"""
import argparse
import importlib.util
import os
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import torch

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
CUDA_SHAPES = '44800x80:fp32,358400x80:fp32,358400x80:bf16,128x9605:fp32,64x80:fp32'
CPU_SHAPES = '64x80:fp32,7x3:bf16'
ASL = dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
# issue 3's targets
KERNEL_TARGET = ('358400x80:fp32', 0.12)  # ms
COMPILE_SPEEDUP = ('358400x80:fp32', 1.5)
MEMORY_TARGET = 1.1  # x the logits

Step = Callable[[torch.Tensor], None]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--shapes', default=None,
                        help=f'comma-separated NxC:dtype (default {CUDA_SHAPES}; on the CPU '
                        f'{CPU_SHAPES})')
    parser.add_argument('--no-compile', action='store_true',
                        help='leave out torch.compile (always left out on the CPU)')
    return parser.parse_args(argv)


def parse_shapes(text: str) -> List[Tuple[str, int, int, torch.dtype]]:
    shapes = []
    for item in text.split(','):
        size, dtype = item.split(':')
        num, num_classes = (int(v) for v in size.split('x'))
        shapes.append((item, num, num_classes, DTYPES[dtype]))
    return shapes


def official_asl(x: torch.Tensor, y: torch.Tensor, gamma_pos: float = 0.0,
                 gamma_neg: float = 4.0, clip: float = 0.05, eps: float = 1e-8) -> torch.Tensor:
    """The official implementation's ``AsymmetricLoss.forward`` (Alibaba-MIIL/ASL), summed, in
    the dtype of ``x``."""
    xs_pos = torch.sigmoid(x)
    xs_neg = (1 - xs_pos + clip).clamp(max=1)
    loss = y * torch.log(xs_pos.clamp(min=eps)) + (1 - y) * torch.log(xs_neg.clamp(min=eps))
    pt = xs_pos * y + xs_neg * (1 - y)
    loss = loss * torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
    return -loss.sum()


def mmcv_focal_loss() -> Optional[Callable]:
    """MMDetection's ``FocalLoss`` (mmcv's op on CUDA), or None without ``mmcv.ops``."""
    if importlib.util.find_spec('mmcv') is None:
        return None
    try:
        import mmcv.ops  # noqa: F401
        from mmdet.models.losses import FocalLoss
    except ImportError:
        return None
    return FocalLoss(use_sigmoid=True)


def implementations(device: str, compile_: bool) -> Dict[str, Callable]:
    """name -> ``fn(x, labels, one_hot)`` returning a scalar loss."""
    from asl_mmdet.ops import asymmetric_loss_ref
    from asl_mmdet.ops.fused import asymmetric_loss_fused

    impls = {
        'fused': lambda x, labels, one_hot: asymmetric_loss_fused(x, labels, **ASL),
        'ref': lambda x, labels, one_hot: asymmetric_loss_ref(x, labels, **ASL),
        'official': lambda x, labels, one_hot: official_asl(x, one_hot, **ASL),
    }
    if compile_:
        compiled = torch.compile(official_asl, dynamic=False)
        impls['compile(official)'] = lambda x, labels, one_hot: compiled(x, one_hot, **ASL)
    focal = mmcv_focal_loss() if device == 'cuda' else None
    if focal is not None:
        impls['mmcv focal'] = lambda x, labels, one_hot: focal(x, labels)
    impls['copy floor'] = lambda x, labels, one_hot: (x * 1).sum()
    return impls


def synchronize(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def op_time(step: Step, x: torch.Tensor, device: str, iters: int, warmup: int) -> float:
    """Median milliseconds of ``step(x)`` (forward + backward), the device idle before each."""
    for _ in range(warmup):
        step(x)
    times = []
    for _ in range(iters):
        x.grad = None
        synchronize(device)
        if device == 'cuda':
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
                enable_timing=True)
            start.record()
            step(x)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            begin = time.perf_counter()
            step(x)
            times.append((time.perf_counter() - begin) * 1e3)
    return statistics.median(times)


def kernel_time(step: Step, x: torch.Tensor, iters: int) -> Optional[float]:
    """Milliseconds of device time of the kernels of one ``step(x)`` (torch.profiler)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(iters):
            x.grad = None
            step(x)
        torch.cuda.synchronize()
    total_us = sum(event.device_time_total for event in prof.events()
                   if event.device_type == DeviceType.CUDA)
    return total_us / 1e3 / iters if total_us > 0 else None


def peak_memory(step: Step, x: torch.Tensor) -> float:
    """MiB allocated at the peak of one ``step(x)`` above what was allocated before it."""
    x.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    step(x)
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


Result = Optional[Tuple[float, Optional[float], Optional[float]]]


def measure(shape: Tuple[str, int, int, torch.dtype], impls: Dict[str, Callable], device: str,
            iters: int, warmup: int) -> Dict[str, Result]:
    """name -> (op ms, kernel ms, peak MiB), None where the implementation failed."""
    _, num, num_classes, dtype = shape
    g = torch.Generator(device=device).manual_seed(0)
    x = (torch.randn(num, num_classes, generator=g, device=device) * 3).to(dtype)
    x.requires_grad_()
    labels = torch.randint(0, num_classes + 1, (num, ), generator=g, device=device)
    one_hot = torch.nn.functional.one_hot(labels, num_classes + 1)[:, :num_classes].to(dtype)
    results = {}
    for name, fn in impls.items():

        def step(x, fn=fn):
            fn(x, labels, one_hot).backward()

        try:
            op_ms = op_time(step, x, device, iters, warmup)
        except (RuntimeError, TypeError, NotImplementedError) as error:
            print(f'  {shape[0]} {name}: skipped ({type(error).__name__}: '
                  f'{str(error).splitlines()[0][:100]})', file=sys.stderr)
            results[name] = None
            continue
        kernel_ms = kernel_time(step, x, iters) if device == 'cuda' else None
        peak = peak_memory(step, x) if device == 'cuda' else None
        results[name] = (op_ms, kernel_ms, peak)
        x.grad = None
    return results


def table(title: str, shapes, names: List[str], cells: Callable[[str, str], str]) -> str:
    lines = [f'{title}', '', '| N x C, dtype | ' + ' | '.join(names) + ' |',
             '|---|' + '---|' * len(names)]
    for shape in shapes:
        lines.append(f'| {shape[0]} | ' + ' | '.join(cells(shape[0], n) for n in names) + ' |')
    return '\n'.join(lines) + '\n'


def report(shapes, results, names: List[str], logit_mib: Dict[str, float]) -> str:
    """Markdown tables of op time, kernel time and peak memory with ratios to fused."""

    def cell(key: str, name: str, index: int, unit: str) -> str:
        value = results[key][name][index] if results[key].get(name) else None
        if value is None:
            return '-'
        fused = results[key]['fused'][index] if results[key].get('fused') else None
        if index == 2:
            return f'{value:.1f} ({value / logit_mib[key]:.2f}x logits)'
        ratio = f' ({value / fused:.2f}x)' if fused else ''
        return f'{value:.3f}{unit}{ratio}'

    return '\n'.join([
        table('Op time, ms: forward + backward through autograd, median (ratio to fused)',
              shapes, names, lambda k, n: cell(k, n, 0, '')),
        table('Kernel time, ms: device time of the kernels of one forward + backward '
              '(ratio to fused)', shapes, names, lambda k, n: cell(k, n, 1, '')),
        table('Peak extra memory, MiB (x the logits)', shapes, names,
              lambda k, n: cell(k, n, 2, '')),
    ])


def targets(results, shapes, logit_mib: Dict[str, float]) -> List[str]:
    """Issue 3's targets, each 'met' or 'NOT met' (or why it could not be judged)."""

    def get(key, name, index):
        entry = results.get(key, {}).get(name)
        return None if entry is None else entry[index]

    def verdict(ok):
        return 'n/a' if ok is None else ('met' if ok else 'NOT met')

    lines = []
    key, limit = KERNEL_TARGET
    value = get(key, 'fused', 1)
    lines.append(f'- fused kernel time at {key} <= {limit} ms: '
                 f'{verdict(None if value is None else value <= limit)}'
                 + ('' if value is None else f' ({value:.3f} ms)'))
    slower = [s[0] for s in shapes
              if get(s[0], 'mmcv focal', 0) is not None and get(s[0], 'fused', 0) is not None
              and get(s[0], 'fused', 0) > get(s[0], 'mmcv focal', 0)]
    judged = any(get(s[0], 'mmcv focal', 0) is not None for s in shapes)
    lines.append('- fused op time no slower than mmcv focal at every shape: '
                 f'{verdict(not slower if judged else None)}'
                 + (f' (slower at {", ".join(slower)})' if slower else ''))
    key, factor = COMPILE_SPEEDUP
    fused, compiled = get(key, 'fused', 0), get(key, 'compile(official)', 0)
    lines.append(f'- fused op time >= {factor}x faster than compile(official) at {key}: '
                 f'{verdict(None if None in (fused, compiled) else compiled >= factor * fused)}'
                 + ('' if None in (fused, compiled) else f' ({compiled / fused:.2f}x)'))
    over = [s[0] for s in shapes if get(s[0], 'fused', 2) is not None
            and get(s[0], 'fused', 2) > MEMORY_TARGET * logit_mib[s[0]]]
    judged = any(get(s[0], 'fused', 2) is not None for s in shapes)
    lines.append(f'- fused peak extra memory <= {MEMORY_TARGET}x the logits: '
                 f'{verdict(not over if judged else None)}'
                 + (f' (over at {", ".join(over)})' if over else ''))
    return lines


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('benchmark_loss: CUDA required (no GPU found); run with --device cpu for a smoke '
              'run of the script on tiny shapes')
        return 0
    if args.device == 'cpu':
        os.environ.setdefault('TRITON_INTERPRET', '1')  # before the kernels are built
    shapes = parse_shapes(args.shapes or (CUDA_SHAPES if args.device == 'cuda' else CPU_SHAPES))
    impls = implementations(args.device, args.device == 'cuda' and not args.no_compile)
    import triton
    device_name = (torch.cuda.get_device_name() if args.device == 'cuda' else
                   'CPU (Triton interpreter; smoke run, times not meaningful)')
    print(f'Device: {device_name}; torch {torch.__version__}, triton {triton.__version__}; '
          f'median of {args.iters} after {args.warmup} warm-ups\n')
    results, logit_mib = {}, {}
    for shape in shapes:
        key, num, num_classes, dtype = shape
        logit_mib[key] = num * num_classes * torch.finfo(dtype).bits / 8 / 2**20
        results[key] = measure(shape, impls, args.device, args.iters, args.warmup)
    print(report(shapes, results, list(impls), logit_mib))
    if args.device == 'cuda':
        print('Targets (issue 3):')
        print('\n'.join(targets(results, shapes, logit_mib)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
