"""Without a GPU, run the Triton kernels on the CPU with Triton's interpreter; and the
``fresh_dynamo`` fixture of the tests that compile the loss.

``TRITON_INTERPRET`` is read when a kernel is decorated, so it is set here, before any test
module imports :mod:`asl_mmdet.ops.fused`.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')


@pytest.fixture
def fresh_dynamo():
    """Dynamo's caches emptied before and after the test: frames compiled in one test (the
    dispatch's, with what its checks read then) must not serve another that patches it."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()
