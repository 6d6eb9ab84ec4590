"""The CPU path's cost: asl_mmdet's reference against BCE, MMDetection's focal loss and the
official ASL formula, forward + backward to a scalar, on the CPU.

Usage: python tools/benchmark_loss_cpu.py [--shape 44800x80] [--threads 2] [--iters 11]

Prints the median time of ``fn(x, target).backward()`` per implementation, with its ratio to
MMDetection's ``py_sigmoid_focal_loss`` (what ``FocalLoss`` runs off CUDA), all from one run.
ASL uses the paper's MS-COCO setting (gamma_pos=0, gamma_neg=4, clip=0.05).
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss

from asl_mmdet.ops import asymmetric_loss

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark_loss import official_asl  # noqa: E402


def median_ms(fn, x: torch.Tensor, iters: int) -> float:
    times = []
    for _ in range(iters):
        xx = x.clone().requires_grad_()
        start = time.perf_counter()
        fn(xx).backward()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shape', default='44800x80', help='N x C logits (fp32)')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--iters', type=int, default=11)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n, c = map(int, args.shape.split('x'))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, generator=g)
    labels = torch.randint(0, c + 1, (n, ), generator=g)  # c = background
    one_hot = F.one_hot(labels, c + 1)[:, :c].float()
    rows = [
        ('BCE with logits', lambda z: F.binary_cross_entropy_with_logits(
            z, one_hot, reduction='sum')),
        ('mmdet py_sigmoid_focal_loss', lambda z: py_sigmoid_focal_loss(
            z, one_hot, reduction='sum')),
        ('official ASL formula, eager', lambda z: official_asl(z, one_hot)),
        ('asl_mmdet, class-index targets', lambda z: asymmetric_loss(z, labels,
                                                                     reduction='sum')),
        ('asl_mmdet, multi-hot targets', lambda z: asymmetric_loss(z, one_hot,
                                                                   reduction='sum')),
    ]
    results = [(name, median_ms(fn, x, args.iters)) for name, fn in rows]
    focal = results[1][1]
    print(f'forward + backward, {n} x {c} fp32, CPU, {args.threads} threads, '
          f'median of {args.iters}')
    print('| loss | ms | vs mmdet py focal |')
    print('|---|---|---|')
    for name, ms in results:
        print(f'| {name} | {ms:.1f} | {ms / focal:.2f}x |')


if __name__ == '__main__':
    main()
