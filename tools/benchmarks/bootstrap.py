"""Time the paired bootstrap of tools/compare.py on synthetic detection and classification
sets:

    python tools/benchmarks/bootstrap.py [--images 50 5000] [--resamples 1000]

See :mod:`asl_mmdet.benchmarks.bootstrap`.
"""
import sys

from asl_mmdet.benchmarks.bootstrap import main

if __name__ == '__main__':
    sys.exit(main())
