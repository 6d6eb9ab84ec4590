"""The loss' cost, forward + backward, against the alternatives, all from one run:

    python tools/benchmarks/loss.py                  # GPU: the fused kernel, issue 3's shapes
    python tools/benchmarks/loss.py --device cpu     # the CPU path at 44800 x 80

See :mod:`asl_mmdet.benchmarks.loss`.
"""
import sys

from asl_mmdet.benchmarks.loss import main

if __name__ == '__main__':
    sys.exit(main())
