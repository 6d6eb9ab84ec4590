"""What a GPU user gets when a piece of the fused path is missing (issue 12, item 6).

Each missing piece is simulated on the CPU (the kernels run under Triton's interpreter): the
dispatch must run the reference and warn once per process, naming what is missing and how to
get the fused path; a Triton compile error on first use is caught once and reported once;
``ASL_MMDET_IMPL=triton`` still forces the kernel and lets the error through.
"""
import sys
import warnings

import pytest
import torch

pytest.importorskip('triton')

from asl_mmdet.ops import asymmetric_loss, fused, fused_support  # noqa: E402
from asl_mmdet.ops.dispatch import IMPL_ENV  # noqa: E402

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
if DEVICE == 'cpu' and not fused.INTERPRETED:
    pytest.skip('no GPU, and the Triton kernels were built without TRITON_INTERPRET=1',
                allow_module_level=True)


class FakeCompileError(RuntimeError):
    """Stands for an error raised inside Triton's compiler."""


FakeCompileError.__module__ = 'triton.compiler.errors'


@pytest.fixture
def gpu(monkeypatch):
    """A process whose tensors are on an sm_90 GPU (simulated without one), with fresh
    checks."""
    monkeypatch.delenv(IMPL_ENV, raising=False)
    monkeypatch.setattr(fused_support, '_on_cuda', lambda pred: True)
    monkeypatch.setattr(fused_support, '_device_capability', lambda index: (9, 0))
    monkeypatch.setattr(fused_support, '_warned', set())
    monkeypatch.setattr(fused_support, '_compile_failure', None)
    monkeypatch.setattr(fused_support, '_checked', {})
    return monkeypatch


def run_loss(dtype=torch.float32, device=DEVICE):
    pred = torch.randn(7, 5, dtype=dtype, device=device, requires_grad=True)
    target = torch.tensor([0, 5, 2, 1, 4, 3, 0], device=device)
    loss = asymmetric_loss(pred, target, gamma_pos=1.0)
    return type(loss.grad_fn).__name__


def assert_reference_with_one_warning(match, dtype=torch.float32):
    with pytest.warns(RuntimeWarning, match=match) as record:
        assert run_loss(dtype) == 'AsymmetricLossRefFunctionBackward'
    assert len([w for w in record if 'asl_mmdet' in str(w.message)]) == 1
    assert 'ASL_MMDET_IMPL' in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the second step: no warning
        assert run_loss(dtype) == 'AsymmetricLossRefFunctionBackward'


def test_everything_present_runs_the_kernel_without_warning(gpu):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss() == 'AsymmetricLossTritonFunctionBackward'


def test_cpu_logits_run_the_reference_without_warning(monkeypatch):
    monkeypatch.delenv(IMPL_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss(device='cpu') == 'AsymmetricLossRefFunctionBackward'


def test_torch_without_triton_op(gpu):
    gpu.delattr(torch.library, 'triton_op')
    assert_reference_with_one_warning(r'triton_op.*torch >= 2\.6')


def test_triton_not_installed(gpu):
    find_spec = fused_support.importlib.util.find_spec
    gpu.setattr(fused_support.importlib.util, 'find_spec',
                lambda name, *args: None if name == 'triton' else find_spec(name, *args))
    assert_reference_with_one_warning('Triton is not installed')


def test_triton_that_can_not_build_the_kernels(gpu):
    gpu.setitem(sys.modules, 'asl_mmdet.ops.fused', None)
    assert_reference_with_one_warning('do not import with this Triton')


def test_device_of_unsupported_capability(gpu):
    gpu.setattr(fused_support, '_device_capability', lambda index: (7, 0))
    assert_reference_with_one_warning(r'compute capability 7\.0.*7\.5 or newer')


def test_unsupported_dtype(gpu):
    assert_reference_with_one_warning('float32, float16 or bfloat16.*float64', torch.float64)


def test_compile_error_is_caught_once_and_reported_once(gpu, capsys):
    calls = []

    def broken(*args):
        calls.append(1)
        raise FakeCompileError('ptxas fatal: Unresolved extern function')

    gpu.setattr(fused, 'asymmetric_loss_fused', broken)
    assert_reference_with_one_warning('Triton failed to compile the kernel.*ptxas fatal')
    assert len(calls) == 1  # never tried again in this process
    assert 'FakeCompileError' in capsys.readouterr().err  # the traceback, once


def test_forced_kernel_lets_the_compile_error_through(gpu):
    gpu.setenv(IMPL_ENV, 'triton')
    gpu.setattr(fused, 'asymmetric_loss_fused', lambda *args: (_ for _ in ()).throw(
        FakeCompileError('ptxas fatal')))
    with pytest.raises(FakeCompileError):
        run_loss()


def test_other_errors_propagate(gpu):
    gpu.setattr(fused, 'asymmetric_loss_fused', lambda *args: (_ for _ in ()).throw(
        ValueError('target of class indices must have shape')))
    with pytest.raises(ValueError, match='must have shape'):
        run_loss()
    assert fused_support._compile_failure is None


def test_checks_do_not_break_a_compiled_graph(gpu):
    """Under torch.compile the dispatch only reads what eager steps found: one graph."""
    torch.manual_seed(0)
    model = torch.nn.Linear(16, 5).to(DEVICE)
    x = torch.randn(32, 16, device=DEVICE)
    target = torch.randint(0, 6, (32, ), device=DEVICE)

    def step(x, target):
        return asymmetric_loss(model(x), target, gamma_pos=1.0, reduction='sum')

    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm.print_readable(print_output=False))
        return gm.forward

    compiled = torch.compile(step, backend=backend, fullgraph=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error', RuntimeWarning)
        torch.testing.assert_close(compiled(x, target), step(x, target), rtol=1e-5, atol=1e-6)
    assert len(graphs) == 1 and 'asl_forward' in graphs[0]
