"""The GPU's approximate exp2, log2 and reciprocal, emulated under Triton's interpreter
(issue 20): each helper of the fused kernel flushes subnormal inputs and outputs to zero and is
off by its documented worst-case bound, with the sign of the mode; and the parity suite
(tests/test_ops/test_fused.py, test_probability_analysis.py) passes at its tolerances with the
emulation in each mode (``ASL_MMDET_MUFU_EMULATION``, a subprocess per mode)."""
import numpy as np
import pytest
import torch

from tests.run_utils import python_env, run_python
from tests.test_ops.helpers import kernels_skip_reason

if kernels_skip_reason() is not None:
    pytest.skip(kernels_skip_reason(), allow_module_level=True)
if torch.cuda.is_available():
    pytest.skip('emulation is for the interpreter: a GPU runs the real instructions',
                allow_module_level=True)

import triton.language as tl  # noqa: E402

from asl_mmdet.ops import fused  # noqa: E402
from tests.test_ops.probe_kernels import mufu_probe  # noqa: E402

MODES = ['up', 'down', 'hash']


def run_probe(function: int, x: np.ndarray) -> np.ndarray:
    inputs = torch.from_numpy(x.astype(np.float32))
    out = torch.empty_like(inputs)
    mufu_probe[(1, )](inputs, out, inputs.numel(), FUNCTION=function, BLOCK=64)
    return out.numpy().astype(np.float64)


@pytest.fixture(params=MODES)
def mode(request, monkeypatch):
    monkeypatch.setattr(fused, '_MUFU_ERROR', tl.constexpr(fused.MUFU_MODES[request.param]))
    return request.param


def assert_bound(errors, bound, mode, rounding=2.0**-23):
    """Each error is the bound, give or take float32 rounding (of the exact result and of the
    emulated error's product: 2^-24 relative each), with the sign of ``mode``: all +, all -,
    or both among the elements ('hash')."""
    assert np.all(np.abs(np.abs(errors) - bound) <= rounding), errors
    if mode == 'up':
        assert np.all(errors > 0)
    elif mode == 'down':
        assert np.all(errors < 0)
    else:
        assert np.any(errors > 0) and np.any(errors < 0)


def test_exp2(mode):
    x = np.linspace(-120.0, 60.0, 50).astype(np.float32).astype(np.float64)
    errors = run_probe(0, x) / np.exp2(x) - 1
    assert_bound(errors, 2.0**-22, mode)
    flushed = run_probe(0, np.array([-126.5, -140.0, -1.0]))
    assert list(flushed[:2]) == [0.0, 0.0] and flushed[2] > 0  # subnormal results: 0
    assert run_probe(0, np.array([1e-40]))[0] == pytest.approx(1.0, rel=1e-6)


def test_log2_absolute_near_one_relative_elsewhere(mode):
    near = np.linspace(0.5, 2.0, 40).astype(np.float32).astype(np.float64)
    # absolute: the exact log2 rounded to float32 (half an ulp of a value below 1)
    assert_bound(run_probe(1, near) - np.log2(near), 2.0**-22, mode, rounding=2.0**-25)
    far = np.array([1e-30, 1e-3, 0.25, 5.0, 1e6, 1e30]).astype(np.float32).astype(np.float64)
    assert_bound(run_probe(1, far) / np.log2(far) - 1, 2.0**-22, mode)
    assert run_probe(1, np.array([1e-40]))[0] == -np.inf  # a subnormal input is 0


def test_rcp(mode):
    x = np.geomspace(1e-3, 1e3, 40).astype(np.float32).astype(np.float64)
    assert_bound(run_probe(2, x) * x - 1, 2.0**-23, mode)
    assert run_probe(2, np.array([1e-40]))[0] == np.inf  # a subnormal input is 0
    assert run_probe(2, np.array([2.0**127]))[0] == 0.0  # a subnormal result is 0


def test_exact_by_default():
    x = np.array([-3.0, 0.3, 7.0])
    assert np.array_equal(run_probe(0, x), np.exp2(x.astype(np.float32)).astype(np.float64))


@pytest.mark.slow
@pytest.mark.parametrize('emulated', MODES)
def test_parity_suite_with_emulated_math(emulated):
    env = python_env()
    env[fused.MUFU_EMULATION_ENV] = emulated
    result = run_python('-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                        'tests/test_ops/test_fused.py',
                        'tests/test_ops/test_probability_analysis.py',
                        env=env, timeout=1200)
    assert result.returncode == 0, result.stdout[-6000:]
    assert ' passed' in result.stdout.splitlines()[-1]
