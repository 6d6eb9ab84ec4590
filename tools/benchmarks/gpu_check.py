"""`make gpu-check`: the GPU runs this project could not do without a GPU, in one command.

    python tools/benchmarks/gpu_check.py [--skip-tests] [--skip-train]
                                         [--doc docs/advanced_guides/benchmarks.md]

See :mod:`asl_mmdet.benchmarks.gpu_check`.
"""
import sys

from asl_mmdet.benchmarks.gpu_check import main

if __name__ == '__main__':
    sys.exit(main())
