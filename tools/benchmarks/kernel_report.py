"""Compiled-code report of the fused Asymmetric Loss kernels, without a GPU.

Compiles, through the project's own host functions, every kernel they launch for 358400 x 80
logits (fp32 / bf16 / fp16 x class indices / dense targets x the detection configs' loss, the
classification default, a non-integer gamma, the probability sums; and the backward scaling
kernels) for sm_75, sm_80, sm_90 and sm_100, and prints per variant: registers, spill bytes,
theoretical occupancy on an H100, SASS instructions and MUFU per element in the main loop,
load/store widths, bytes moved per element and a *modelled* time on an H100
(max(bytes / 3.0 TB/s, instructions / issue rate); not a measurement). See
:mod:`asl_mmdet.ops.compile_report`.

    python tools/benchmarks/kernel_report.py                      # everything, every target
    python tools/benchmarks/kernel_report.py --targets 90 --defaults
    python tools/benchmarks/kernel_report.py --check              # exit 1 if a budget fails
"""
import os
import sys

os.environ.pop('TRITON_INTERPRET', None)  # the kernels must be imported compiled

from asl_mmdet.ops.compile_report import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
