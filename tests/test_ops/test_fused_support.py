"""What a GPU user gets when a piece of the fused path is missing (issues 12 and 19).

Each missing piece is simulated on the CPU (a CUDA device and its capability are pretended;
where the kernels run, Triton's interpreter runs them): the dispatch must run the reference and
warn once per process, naming what is missing and how to get the fused path; a Triton compile
error on first use is caught once and reported once; ``ASL_MMDET_IMPL=triton`` still forces the
kernel and lets the error through. These run on every stack, the old ones included (torch 2.1,
Triton 2.1: there the dispatch's answer is the reference, with the Triton it needs named).
FusedFocalLoss (issue 27) takes the same dispatch, never mmcv's focal loss op.
"""
import sys
import warnings

import pytest
import torch

from asl_mmdet.models.losses import FusedFocalLoss
from asl_mmdet.ops import asymmetric_loss, asymmetric_loss_ref, dispatch, fused_support
from asl_mmdet.ops.dispatch import IMPL_ENV
from asl_mmdet.utils import compat
from tests.test_ops.helpers import kernels_skip_reason, needs_kernels

DEVICE = 'cuda' if torch.cuda.is_available() else 'cpu'
REFERENCE = 'AsymmetricLossRefFunctionBackward'
KERNEL = 'AsymmetricLossTritonFunctionBackward'


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
    monkeypatch.setattr(fused_support, '_capabilities', {})
    return monkeypatch


@pytest.fixture
def kernels_importable(gpu):
    """The simulated GPU with a Triton that is new enough, whatever is installed (tests of the
    checks after the Triton one; the kernels themselves never run)."""
    gpu.setattr(compat, 'kernels_unsupported', lambda: None)
    return gpu


def fused_module():
    from asl_mmdet.ops import fused
    return fused


def run_loss(dtype=torch.float32, device=DEVICE, loss_fn=asymmetric_loss):
    """The name of the loss' grad_fn: which implementation ran."""
    pred = torch.randn(7, 5, dtype=dtype, device=device, requires_grad=True)
    target = torch.tensor([0, 5, 2, 1, 4, 3, 0], device=device)
    loss = loss_fn(pred, target, gamma_pos=1.0)
    return type(loss.grad_fn).__name__


def reference(dtype):
    """The grad_fn of the reference itself for ``dtype`` (half types end in their cast)."""
    return run_loss(dtype, loss_fn=asymmetric_loss_ref)


def assert_reference_with_one_warning(match, dtype=torch.float32, loss_fn=asymmetric_loss):
    with pytest.warns(RuntimeWarning, match=match) as record:
        assert run_loss(dtype, loss_fn=loss_fn) == reference(dtype)
    assert len([w for w in record if 'asl_mmdet' in str(w.message)]) == 1
    assert 'ASL_MMDET_IMPL' in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # the second step: no warning
        assert run_loss(dtype, loss_fn=loss_fn) == reference(dtype)


@needs_kernels
def test_everything_present_runs_the_kernel_without_warning(gpu):
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss() == KERNEL


def test_this_stack_runs_the_kernel_or_warns_once(gpu):
    """The installed torch and Triton as they are, on a pretended GPU: the kernel where they
    compile it, else the reference with one warning naming the Triton the kernels need."""
    reason = compat.kernels_unsupported()
    if reason is None:
        assert kernels_skip_reason() is None, 'Triton compiles the kernels: they must run here'
        assert run_loss() == KERNEL
    else:
        assert_reference_with_one_warning(r'Triton .*can not compile the fused kernels: they '
                                          r'need Triton >= 3\.0')


def test_cpu_logits_run_the_reference_without_warning(monkeypatch):
    monkeypatch.delenv(IMPL_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss(device='cpu') == REFERENCE


@needs_kernels
def test_torch_without_triton_op_runs_the_kernel_in_eager_steps(gpu):
    """torch < 2.6: triton_op is only for torch.compile; eager steps launch the kernels."""
    gpu.setattr(compat, 'HAS_TRITON_OP', False)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss() == KERNEL


def test_torch_without_triton_op_runs_the_reference_under_compile(gpu):
    """torch < 2.6 (torch 2.1 of the compat stack as it is; simulated on a newer one): a
    compiled step runs the reference, with one warning naming triton_op."""
    gpu.setattr(compat, 'HAS_TRITON_OP', False)
    compiled_step_runs_the_reference(gpu, r'triton_op.*torch >= 2\.6')


def test_triton_not_installed(gpu):
    gpu.setattr(compat, 'triton_version', lambda: None)
    assert_reference_with_one_warning('Triton is not installed')


def test_triton_too_old_for_the_kernels(gpu):
    gpu.setattr(compat, 'triton_version', lambda: (2, 1, 0))
    assert_reference_with_one_warning(r'Triton 2\.1\.0 can not compile the fused kernels: they '
                                      r'need Triton >= 3\.0 \(torch >= 2\.4')


def test_forced_kernel_with_a_triton_too_old_names_it(gpu):
    gpu.setattr(compat, 'triton_version', lambda: (2, 1, 0))
    gpu.setenv(IMPL_ENV, 'triton')
    with pytest.raises(RuntimeError, match=r'ASL_MMDET_IMPL=triton, but Triton 2\.1\.0'):
        run_loss()


def test_triton_that_can_not_build_the_kernels(kernels_importable):
    kernels_importable.setitem(sys.modules, 'asl_mmdet.ops.fused', None)
    assert_reference_with_one_warning('do not import with this Triton')


def test_device_of_unsupported_capability(kernels_importable):
    kernels_importable.setattr(fused_support, '_device_capability', lambda index: (7, 0))
    assert_reference_with_one_warning(r'compute capability 7\.0.*7\.5 or newer')


def test_unsupported_dtype(kernels_importable):
    assert_reference_with_one_warning('float32, float16 or bfloat16.*float64', torch.float64)


def test_bfloat16_below_sm_80_runs_the_reference(kernels_importable):
    """Issue 20, item 6: Turing has no bf16 instructions (Triton would emulate them, never
    run): bf16 logits there take the reference, with one warning; fp16 keeps the kernel."""
    kernels_importable.setattr(fused_support, '_device_capability', lambda index: (7, 5))
    assert_reference_with_one_warning(r'bfloat16 logits on compute capability 7\.5.*8\.0',
                                      torch.bfloat16)
    assert fused_support.missing_for_fused(torch.zeros(1, dtype=torch.float16)) is None


def test_compile_error_is_caught_once_and_reported_once(kernels_importable, capsys):
    gpu, fused = kernels_importable, fused_module()
    calls = []

    def broken(*args):
        calls.append(1)
        raise FakeCompileError('ptxas fatal: Unresolved extern function')

    gpu.setattr(fused, 'asymmetric_loss_fused', broken)
    assert_reference_with_one_warning('Triton failed to compile the kernel.*ptxas fatal')
    assert len(calls) == 1  # never tried again in this process
    assert 'FakeCompileError' in capsys.readouterr().err  # the traceback, once


def test_forced_kernel_lets_the_compile_error_through(kernels_importable):
    gpu, fused = kernels_importable, fused_module()
    gpu.setenv(IMPL_ENV, 'triton')
    gpu.setattr(fused, 'asymmetric_loss_fused', lambda *args: (_ for _ in ()).throw(
        FakeCompileError('ptxas fatal')))
    with pytest.raises(FakeCompileError):
        run_loss()


def test_other_errors_propagate(kernels_importable):
    gpu, fused = kernels_importable, fused_module()
    gpu.setattr(fused, 'asymmetric_loss_fused', lambda *args: (_ for _ in ()).throw(
        ValueError('target of class indices must have shape')))
    with pytest.raises(ValueError, match='must have shape'):
        run_loss()
    assert fused_support._compile_failure is None


def compiled_step_runs_the_reference(gpu, match):
    """A step compiled first in the process: the checks run (graph break) and pick the
    reference, with one warning; the kernel is never called."""
    gpu.setattr(dispatch, '_run_fused', lambda *args: pytest.fail('the kernel was picked'))
    pred = torch.randn(7, 5, device=DEVICE)
    target = torch.tensor([0, 5, 2, 1, 4, 3, 0], device=DEVICE)

    def step(pred, target):
        return asymmetric_loss(pred, target, gamma_pos=1.0)

    with pytest.warns(RuntimeWarning, match=match) as record:
        value = torch.compile(step, backend='eager')(pred, target)
    assert len([w for w in record if 'asl_mmdet' in str(w.message)]) == 1
    torch.testing.assert_close(value, asymmetric_loss_ref(pred, target, gamma_pos=1.0))


def test_first_call_under_compile_runs_the_checks(kernels_importable):
    """Issue 20, item 2: the first call of the process compiled on an sm_70 GPU must not
    trace the kernel (the checks used to read an empty record as 'all fine')."""
    kernels_importable.setattr(compat, 'HAS_TRITON_OP', True)  # torch >= 2.6, or pretended
    kernels_importable.setattr(fused_support, '_device_capability', lambda index: (7, 0))
    compiled_step_runs_the_reference(kernels_importable, r'compute capability 7\.0')
    assert fused_support._checked[0] is not None  # recorded for the steps after


def test_rocm_build_runs_the_reference(kernels_importable):
    kernels_importable.setattr(torch.version, 'hip', '6.2.0')
    assert_reference_with_one_warning('ROCm build: the fused kernels use NVIDIA PTX')


@needs_kernels
def test_check_fused_path_before_compiling(gpu):
    gpu.setattr(fused_support, '_device_capability', lambda index: (7, 0))
    with pytest.warns(RuntimeWarning, match=r'compute capability 7\.0'):
        assert 'compute capability 7.0' in fused_support.check_fused_path('cpu')
    assert fused_support._checked == {'environment': None, 0: fused_support._checked[0]}


@needs_kernels
def test_checks_do_not_break_a_compiled_graph(gpu):
    """Under torch.compile, after the checks ran (an eager step, or check_fused_path), the
    dispatch only reads what they found: one graph."""
    assert run_loss() == KERNEL  # the eager step
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


@pytest.fixture
def broken_multi_label_kernel(gpu):
    """The simulated GPU, its name, and a kernel whose ln 2 is off by 1% (loss and gradient
    of the margin's terms off by as much): what a miscompiled kernel would compute."""
    from tests.test_ops.probe_kernels import WRONG_LN2
    gpu.setattr(fused_module(), '_LN2', WRONG_LN2)
    gpu.setattr(fused_support, '_device_name',
                lambda index: f'CUDA device {index} (a simulated GPU, compute capability 9.0)')
    return gpu


@needs_kernels
def test_self_check_catches_a_broken_kernel(broken_multi_label_kernel):
    """Issue 20: the first eager call's probe finds the broken kernel, warns once naming the
    device, torch, Triton, the variant and the error, and the reference runs from then on."""
    assert_reference_with_one_warning(
        r'self-check of the fused Asymmetric Loss failed on CUDA device 0 \(a simulated GPU, '
        r'compute capability 9\.0\) \(torch .*, Triton \d+\.\d+\.\d+\) for the variant '
        r'\[float32 logits, C=5, target int64 \(N,\), gamma_pos=1\.0, gamma_neg=4\.0, '
        r'clip=0\.05, .*reduction=mean.*\]: (loss|gradient): .* where the float64 reference '
        r'has .*tolerance')
    assert fused_support._checked[('Asymmetric Loss', 0)] is not None


@needs_kernels
def test_self_check_off(broken_multi_label_kernel):
    broken_multi_label_kernel.setenv('ASL_MMDET_SELF_CHECK', '0')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss() == KERNEL  # the broken kernel runs: nobody checked it


@needs_kernels
def test_self_check_of_the_single_label_kernel(gpu):
    """The single-label family is checked on its own: its broken kernel falls back, the
    multi-label one (fine) still runs."""
    from asl_mmdet.ops import asymmetric_loss_single_label, fused_single_label
    from tests.test_ops.probe_kernels import wrong_log1p
    gpu.setattr(fused_single_label, '_log1p', wrong_log1p)
    gpu.setattr(fused_support, '_device_name', lambda index: 'CUDA device 0 (simulated)')
    with pytest.warns(RuntimeWarning, match=r'self-check of the fused single-label Asymmetric '
                      r'Loss failed on CUDA device 0 \(simulated\)'):
        name = run_loss(loss_fn=lambda pred, target, gamma_pos: asymmetric_loss_single_label(
            pred, target.clamp(max=4), gamma_pos=gamma_pos))
    assert 'Triton' not in name
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert run_loss() == KERNEL


@needs_kernels
@pytest.mark.parametrize('context', ['no_grad', 'inference_mode'])
def test_self_check_runs_from_a_step_without_gradients(broken_multi_label_kernel, context):
    """The first call of the process may come from a validation step: the probe still takes
    its gradient (and catches the broken kernel)."""
    with getattr(torch, context)():
        with pytest.warns(RuntimeWarning, match='self-check of the fused Asymmetric Loss'):
            pred = torch.randn(7, 5, device=DEVICE)
            asymmetric_loss(pred, torch.tensor([0, 5, 2, 1, 4, 3, 0], device=DEVICE))


def fused_focal_loss(pred, target, gamma_pos):
    """``FusedFocalLoss(gamma=gamma_pos)`` as a ``run_loss`` loss."""
    return FusedFocalLoss(gamma=gamma_pos)(pred, target)


@pytest.fixture
def no_mmcv_focal(monkeypatch):
    """mmcv's sigmoid focal loss op fails the test if anything calls it."""
    from mmcv.ops.focal_loss import SigmoidFocalLossFunction
    monkeypatch.setattr(SigmoidFocalLossFunction, 'forward', staticmethod(
        lambda *args: pytest.fail("mmcv's sigmoid_focal_loss was called")))


def test_fused_focal_loss_runs_the_kernel_for_bfloat16(gpu, no_mmcv_focal):
    """Issue 27: bfloat16 logits on a CUDA device (sm_90, simulated), where MMDetection's
    FocalLoss calls mmcv's op (no bfloat16 kernel): FusedFocalLoss runs the fused kernel with no
    warning where Triton compiles it, else (torch 2.1's Triton 2.1) the reference with the
    warning naming the Triton the kernels need; never mmcv's op."""
    if compat.kernels_unsupported() is not None:
        assert_reference_with_one_warning(r'Triton .*can not compile the fused kernels',
                                          torch.bfloat16, loss_fn=fused_focal_loss)
        return
    assert kernels_skip_reason() is None, 'Triton compiles the kernels: they must run here'
    pred = torch.randn(7, 5, dtype=torch.bfloat16, device=DEVICE, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        loss = fused_focal_loss(pred, torch.tensor([0, 5, 2, 1, 4, 3, 0], device=DEVICE), 2.0)
    assert loss.dtype == torch.bfloat16
    (cast, _), = loss.grad_fn.next_functions  # the float32 sum, cast to bfloat16
    assert type(cast).__name__ == KERNEL


def test_fused_focal_loss_below_sm_80_runs_the_reference_for_bfloat16(kernels_importable,
                                                                      no_mmcv_focal):
    """On sm_75 bfloat16 logits take the reference, with the dispatch's one warning; never
    mmcv's op (every stack: the kernels themselves never run)."""
    kernels_importable.setattr(fused_support, '_device_capability', lambda index: (7, 5))
    assert_reference_with_one_warning(r'bfloat16 logits on compute capability 7\.5.*8\.0',
                                      torch.bfloat16, loss_fn=fused_focal_loss)
