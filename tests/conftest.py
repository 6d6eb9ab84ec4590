"""Without a GPU, run the Triton kernels on the CPU with Triton's interpreter.

``TRITON_INTERPRET`` is read when a kernel is decorated, so it is set here, before any test
module imports :mod:`asl_mmdet.ops.fused`.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')
