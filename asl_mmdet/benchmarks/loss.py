"""The loss' cost, forward + backward, against the alternatives, all from one run.

    python tools/benchmarks/loss.py [--device cuda|cpu] [--iters 20] [--warmup 3]
                                    [--shapes 44800x80:fp32,...] [--no-compile] [--threads N]

On CUDA (the default) it benchmarks the fused kernel: ``fused``
(:func:`~asl_mmdet.ops.fused.asymmetric_loss_fused`, the baseline of the ratios), ``ref``
(asl_mmdet's plain-PyTorch reference), ``official`` (the official implementation's formula on
one-hot targets, eager), ``compile(official)`` (the same under ``torch.compile``), ``mmcv
focal`` (MMDetection's ``FocalLoss``, mmcv's CUDA op) and ``copy floor`` (``(x * 1).sum()``),
``FusedFocalLoss`` (MMDetection's focal loss on asl_mmdet's dispatch: the fused kernel), at
issue 3's five shapes, and prints three tables:

* op time: ``fn(x, target).backward()`` through autograd, the median of ``--iters`` timed
  calls after ``--warmup`` (:func:`~asl_mmdet.benchmarks.timing.time_ms`), with its ratio to
  the baseline;
* kernel time: the device time of the kernels of one forward + backward (torch.profiler's
  kernel durations, summed, averaged over ``--iters`` runs), so host overhead is left out;
* peak extra memory: the peak allocated during one forward + backward above what was
  allocated before it (the gradient of the logits included), in MiB and in units of the
  logits' size;

then the focal table: ``FusedFocalLoss`` beside MMDetection's ``FocalLoss`` (``mmcv focal``),
op time with the ratio to ``FocalLoss``, in every dtype of the run (mmcv's op has no bfloat16
kernel: ``-`` there); and issue 3's targets, each met or not. Without CUDA it says so and
exits.

``--device cpu`` benchmarks the CPU path at 44800 x 80 in float32 and bfloat16 (the op-time
tables only): ``BCE``, ``mmdet py focal`` (MMDetection's ``py_sigmoid_focal_loss``, what
``FocalLoss`` runs off CUDA; the baseline), ``official``, the reference on class-index (``ref,
index``) and multi-hot (``ref, multi-hot``) targets, and the two focal-loss modules on
class-index targets, ``FocalLoss`` (MMDetection's: one-hot, then ``py_sigmoid_focal_loss``) and
``FusedFocalLoss`` (the reference here), with the focal table; and the fused kernel too when
``TRITON_INTERPRET=1`` is set (a smoke run of the kernel path: its times mean nothing).

ASL runs with the paper's MS-COCO setting (gamma_pos=0, gamma_neg=4, clip=0.05) on class-index
targets with background, the focal losses with MMDetection's defaults (``FocalLoss`` and
``FusedFocalLoss``: the 'mean' reduction, as dense heads call them).
"""
import argparse
import importlib.util
import os
import statistics
import sys
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from ..utils.tables import markdown_table
from .timing import time_ms

__all__ = ['official_asl', 'implementations', 'measure', 'main']

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}
CUDA_SHAPES = '44800x80:fp32,358400x80:fp32,358400x80:bf16,128x9605:fp32,64x80:fp32'
CPU_SHAPES = '44800x80:fp32,44800x80:bf16'
BASELINE = {'cuda': 'fused', 'cpu': 'mmdet py focal'}
FOCAL_BASELINE = {'cuda': 'mmcv focal', 'cpu': 'FocalLoss'}  # MMDetection's FocalLoss
ASL = dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05)
# issue 3's targets
KERNEL_TARGET = ('358400x80:fp32', 0.12)  # ms
COMPILE_SPEEDUP = ('358400x80:fp32', 1.5)
MEMORY_TARGET = 1.1  # x the logits

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Step = Callable[[torch.Tensor], None]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--shapes', default=None,
                        help=f'comma-separated NxC:dtype (default {CUDA_SHAPES}; on the CPU '
                        f'{CPU_SHAPES})')
    parser.add_argument('--threads', type=int, default=None,
                        help="torch's CPU threads (default: torch's)")
    parser.add_argument('--no-compile', action='store_true',
                        help='leave out torch.compile (always left out on the CPU)')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 0:
        parser.error(f'--iters must be >= 1 and --warmup >= 0, got {args.iters} and '
                     f'{args.warmup}')
    return args


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


def implementations(device: str, compile_: bool = False) -> Dict[str, Loss]:
    """name -> ``fn(x, labels, one_hot)`` returning a scalar loss, the baseline first (on
    the CPU, the fused kernel only under ``TRITON_INTERPRET=1``)."""
    from mmdet.models.losses.focal_loss import FocalLoss, py_sigmoid_focal_loss

    from ..models.losses import FusedFocalLoss
    from ..ops import asymmetric_loss_ref

    ref = {'ref': lambda x, labels, one_hot: asymmetric_loss_ref(x, labels, **ASL)}
    official = {'official': lambda x, labels, one_hot: official_asl(x, one_hot, **ASL)}
    fused_focal = FusedFocalLoss()
    fused_focal_impl = {'FusedFocalLoss': lambda x, labels, one_hot: fused_focal(x, labels)}
    if device == 'cpu':
        focal = FocalLoss()
        impls = {
            'mmdet py focal': lambda x, labels, one_hot: py_sigmoid_focal_loss(
                x, one_hot, reduction='sum'),
            'BCE': lambda x, labels, one_hot: F.binary_cross_entropy_with_logits(
                x, one_hot, reduction='sum'),
            **official,
            'ref, index': ref['ref'],
            'ref, multi-hot': lambda x, labels, one_hot: asymmetric_loss_ref(x, one_hot, **ASL),
            'FocalLoss': lambda x, labels, one_hot: focal(x, labels),
            **fused_focal_impl,
        }
        if os.environ.get('TRITON_INTERPRET') != '1':
            return impls
    from ..ops.fused import asymmetric_loss_fused
    fused = {'fused': lambda x, labels, one_hot: asymmetric_loss_fused(x, labels, **ASL)}
    if device == 'cpu':
        return {**impls, **fused}
    impls = {**fused, **ref, **official}
    if compile_:
        compiled = torch.compile(official_asl, dynamic=False)
        impls['compile(official)'] = lambda x, labels, one_hot: compiled(x, one_hot, **ASL)
    focal = mmcv_focal_loss()
    if focal is not None:
        impls['mmcv focal'] = lambda x, labels, one_hot: focal(x, labels)
    impls.update(fused_focal_impl)
    impls['copy floor'] = lambda x, labels, one_hot: (x * 1).sum()
    return impls


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


def measure(shape: Tuple[str, int, int, torch.dtype], impls: Dict[str, Loss], device: str,
            iters: int, warmup: int) -> Dict[str, Result]:
    """name -> (op ms, kernel ms, peak MiB), the last two None off CUDA; None where the
    implementation failed."""
    _, num, num_classes, dtype = shape
    g = torch.Generator(device=device).manual_seed(0)
    x = (torch.randn(num, num_classes, generator=g, device=device) * 3).to(dtype)
    x.requires_grad_()
    labels = torch.randint(0, num_classes + 1, (num, ), generator=g, device=device)
    one_hot = F.one_hot(labels, num_classes + 1)[:, :num_classes].to(dtype)
    results = {}
    for name, fn in impls.items():

        def step(x=x, fn=fn):
            x.grad = None
            fn(x, labels, one_hot).backward()

        try:
            op_ms = statistics.median(time_ms(step, device, warmup, repeats=iters))
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


def _ratio(ratio: float) -> str:
    """``1.00x``, ``0.26x``; two significant digits below 0.1 (never a positive ``0.00x``)."""
    return f'{ratio:.2f}x' if ratio >= 0.1 else f'{ratio:.2g}x'


def report(shapes, results, names: List[str], baseline: str,
           logit_mib: Dict[str, float], device: str) -> str:
    """Markdown tables of op time (and on CUDA kernel time and peak memory) with ratios to
    the baseline, then the focal table: ``FusedFocalLoss`` beside MMDetection's
    ``FocalLoss`` (:data:`FOCAL_BASELINE`), op time with ratios to ``FocalLoss``, where the
    run has both."""

    def cell(key: str, name: str, index: int, base_name: str) -> str:
        value = results[key][name][index] if results[key].get(name) else None
        if value is None:
            return '-'
        if index == 2:
            return f'{value:.1f} ({value / logit_mib[key]:.2f}x logits)'
        base = results[key][base_name][index] if results[key].get(base_name) else None
        return f'{value:.3f}' + (f' ({_ratio(value / base)})' if base else '')

    def table(title: str, index: int, columns: List[str] = names,
              base_name: str = baseline) -> str:
        return markdown_table([{'N x C, dtype': key,
                                **{n: cell(key, n, index, base_name) for n in columns}}
                               for key, *_ in shapes], title)

    tables = [table(f'Op time, ms: forward + backward through autograd, median (ratio to '
                    f'{baseline})', 0)]
    if device == 'cuda':
        tables += [table(f'Kernel time, ms: device time of the kernels of one forward + '
                         f'backward (ratio to {baseline})', 1),
                   table('Peak extra memory, MiB (x the logits)', 2)]
    focal = FOCAL_BASELINE[device]
    if focal in names and 'FusedFocalLoss' in names:
        tables.append(table(f"FusedFocalLoss vs MMDetection's FocalLoss ({focal}): op time, ms, "
                            f'median (ratio to {focal}; - where it does not run)', 0,
                            [focal, 'FusedFocalLoss'], focal))
    return '\n\n'.join(tables) + '\n'


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
        print('benchmarks/loss.py: CUDA required (no GPU found); run with --device cpu for '
              'the CPU path')
        return 0
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    shapes = parse_shapes(args.shapes or (CUDA_SHAPES if args.device == 'cuda' else CPU_SHAPES))
    impls = implementations(args.device, args.device == 'cuda' and not args.no_compile)
    if args.device == 'cuda':
        import triton
        device_name = (f'{torch.cuda.get_device_name()}; torch {torch.__version__}, '
                       f'triton {triton.__version__}')
    else:
        device_name = f'CPU, {torch.get_num_threads()} threads; torch {torch.__version__}'
        if 'fused' in impls:
            device_name += ' (fused: Triton interpreter, its time means nothing)'
    print(f'Device: {device_name}; median of {args.iters} after {args.warmup} warm-ups\n')
    results, logit_mib = {}, {}
    for shape in shapes:
        key, num, num_classes, dtype = shape
        logit_mib[key] = num * num_classes * torch.finfo(dtype).bits / 8 / 2**20
        results[key] = measure(shape, impls, args.device, args.iters, args.warmup)
    print(report(shapes, results, list(impls), BASELINE[args.device], logit_mib, args.device))
    if args.device == 'cuda':
        print('Targets (issue 3):')
        print('\n'.join(targets(results, shapes, logit_mib)))
    return 0
