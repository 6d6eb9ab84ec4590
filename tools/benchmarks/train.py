"""Time whole training steps of several configs side by side (ratios to the first):

    python tools/benchmarks/train.py CONFIG_A CONFIG_B [...] [--batch-size 2 8] [--amp]

See :mod:`asl_mmdet.benchmarks.train`.
"""
from asl_mmdet.benchmarks.train import main

if __name__ == '__main__':
    main()
