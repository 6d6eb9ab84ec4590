"""The fused kernels compiled for real GPUs, on a machine without one (issues 12 and 20).

A subprocess (so that the swapped Triton driver never reaches this process) compiles, through
the host functions, every kernel variant for sm_90, and for sm_75, sm_80, sm_86, sm_89, sm_100
and sm_120 the defaults, a subset of the other variants and a share of the pairwise variants
(:data:`asl_mmdet.ops.compile_report.PAIRWISE`: every pair of values of any two options the
dispatch passes, dtype, target form, gammas, margin, alpha, detach, weight kind, class weights,
reduction, gradient, probability sums, C and its masking, split columns, transposed logits,
unaligned labels and weights, index dtype), :data:`~asl_mmdet.ops.compile_report.CI_MATRIX`;
the tests fail on a compile error, a spill, more than 128 registers per thread, or a missed
budget of the two defaults (SASS per element in the main loop, registers, 128-bit loads, the
model's time against the memory floor). Skipped only where the installed Triton has no NVIDIA
backend (or is older than the compile report needs).
"""
import json
import re

import pytest

from asl_mmdet.ops import compile_report
from asl_mmdet.ops.compile_report import (BUDGETS, CI_MATRIX, DEFAULT_VARIANTS, FACTORS, H100,
                                          PAIRWISE, TARGETS,
                                          MAX_REGISTERS, occupancy, predict_ms)
from tests.run_utils import python_env, run_python

pytestmark = pytest.mark.slow

HAS_BACKEND, WHY_NOT = compile_report.has_nvidia_backend()
needs_backend = pytest.mark.skipif(not HAS_BACKEND, reason=WHY_NOT or 'no NVIDIA backend')


@pytest.fixture(scope='module')
def facts():
    result = run_python('-m', 'asl_mmdet.ops.compile_report', '--ci', '--json',
                        env=python_env(interpret=False), timeout=900)
    assert result.returncode == 0, f'compile failed:\n{result.stderr[-4000:]}'
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{')]


@needs_backend
def test_every_variant_compiles_for_every_target(facts):
    compiled = {(f['arch'], f['variant']) for f in facts}
    expected = {(arch, v.name) for arch, variants in CI_MATRIX.items() for v in variants}
    assert compiled == expected
    assert all(f['loop_instructions'] > 0 for f in facts)


@needs_backend
def test_no_spills_and_at_most_128_registers(facts):
    problems = [f"sm_{f['arch']} {f['variant']}: {f['registers']} registers, "
                f"{f['spill_bytes']} spill bytes" for f in facts
                if f['spill_bytes'] or f['registers'] > MAX_REGISTERS]
    assert not problems


@needs_backend
@pytest.mark.parametrize('variant', [v.name for v in DEFAULT_VARIANTS])
def test_default_budgets(facts, variant):
    """<= 40 (detection) / 50 (classification) SASS per element in the main loop, <= 64
    registers (>= 50% occupancy on H100), 128-bit loads, model <= 1.5 x memory floor."""
    max_sass, max_registers = next(b for prefix, b in BUDGETS.items()
                                   if variant.startswith(prefix))
    rows = [f for f in facts if f['variant'] == variant and (f['arch'] >= 80)]
    assert {f['arch'] for f in rows} == {arch for arch in TARGETS if arch >= 80}
    for f in rows:
        where = f"sm_{f['arch']} {variant}"
        assert f['sass_per_element'] <= max_sass, where
        assert f['registers'] <= max_registers and f['occupancy_h100'] >= 0.5, where
        assert 128 in f['load_bits'] and 128 in f['store_bits'], where
        assert f['predicted_ms'] <= 1.5 * f['floor_ms'], where


def test_pairwise_variants_hold_every_pair_of_options():
    """The covering property itself, counted independently of how the rows were built."""
    import itertools
    names = list(FACTORS)
    for a, b in itertools.combinations(names, 2):
        met = {(getattr(v, a), getattr(v, b)) for v in PAIRWISE}
        assert met == set(itertools.product(FACTORS[a], FACTORS[b])), (a, b)
    assert len(PAIRWISE) < 60  # a few dozen compiles, not the product of the options
    compiled = [v for variants in CI_MATRIX.values() for v in variants]
    assert all(v in compiled for v in PAIRWISE)
    assert not any(v.dtype == 'bfloat16' for v in CI_MATRIX[75])  # the reference there


def test_occupancy_model():
    """H100: 65536 registers and 64 warps per SM, allocated per warp in units of 256."""
    assert occupancy(121, 4) == 0.25  # the figures for the old kernel
    assert occupancy(140, 4) == 0.1875
    assert occupancy(64, 4) == 0.5
    assert occupancy(32, 8) == 1.0


def test_time_model_matches_its_calibration():
    """232 SASS per element at 358400 x 80 is issue-bound at ~0.22 ms (timed: 0.272 ms)."""
    elements = 358400 * 80
    predicted, floor = predict_ms(elements, 8.0, 232)
    assert predicted == pytest.approx(0.22, abs=0.01)
    assert floor == pytest.approx(elements * 8 / (H100.copy_tb_s * 1e9))


def test_main_loop_is_the_largest_backward_branch():
    sass = [(0x00, 'MOV R1, c[0x0][0x28]'), (0x10, 'LDG.E.128 R4, desc[UR4][R2.64]'),
            (0x20, 'FMUL R4, R4, R5'), (0x30, 'MUFU.EX2 R4, R4'),
            (0x40, '@P0 BRA `(.L_x_1)'), (0x50, 'STG.E.128 desc[UR4][R2.64], R4'),
            (0x60, 'EXIT'), (0x70, 'BRA `(.L_x_2)')]
    labels = {'.L_x_1': 0x10, '.L_x_2': 0x70}
    assert compile_report._main_loop(sass, labels) == (1, 4)
    assert compile_report._width('LDG.E.128.CONSTANT') == 128
    assert compile_report._width('LDG.E.U16') == 16
    assert compile_report._width('STG.E') == 32


def compile_and_print(lines) -> str:
    """The stdout of ``lines`` run in a process of their own with the kernels compiled (no
    interpreter) and ``cr`` the compile report."""
    code = '\n'.join(['from asl_mmdet.ops import compile_report as cr'] + lines)
    result = run_python('-c', code, env=python_env(interpret=False), timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


@needs_backend
def test_scale_kernel_counts_in_64_bits_near_2_to_the_31():
    """Issue 20, item 5: ``grad *= scalar`` over numel just below 2**31 (an int32 argument):
    its grid-stride loop must count in int64, or ``start + step`` wraps negative, passes the
    ``offsets < numel`` mask and writes out of bounds. The compiled TTIR shows the counter's
    type (the tensors are allocated on the CPU, never touched)."""
    stdout = compile_and_print([
        "variant = cr._BY_NAME['backward: grad *= scalar, fp32']",
        '(launch, ) = cr.compile_variant(variant, 90, shape=((2**31 - 2**20) // 80, 80))',
        "print(launch.compiled.asm['ttir'])",
    ])
    loops = re.findall(r'scf\.for .* : (i\d+)', stdout)
    assert loops == ['i64'], loops


@needs_backend
@pytest.mark.parametrize('variant', ['detection, index, fp32', 'classification, dense, bf16'])
def test_inductor_sees_only_the_outputs_written(variant):
    """Issue 20, item 3: what torch.compile's Triton analysis (the one Inductor functionalizes
    with) finds written by the forward kernel, from its TTIR: only the outputs the variant
    writes, never the logits, labels or weights (a kernel with impure inline asm would count
    as writing every argument), and no two tensor arguments the same memory (an unused
    pointer gets a scratch tensor of its own)."""
    stdout = compile_and_print([
        'import torch',
        'from torch._higher_order_ops.triton_kernel_wrap import identify_accessed_tensors',
        f'variant = cr._BY_NAME[{variant!r}]',
        'launch = cr.compile_variant(variant, 90, shape=(1000, 80))[0]',
        'with cr.compile_only(90):',
        '    accesses = identify_accessed_tensors(launch.kernel, launch.arguments, {})',
        'tensors = {k: v for k, v in launch.arguments.items() if isinstance(v, torch.Tensor)}',
        'print(sorted(dep.name for dep in accesses.read_writes.writes))',
        'print(len({t.data_ptr() for t in tensors.values()}) == len(tensors))',
    ])
    written, distinct = stdout.strip().splitlines()[-2:]
    # REDUCE and NEED_GRAD: the per-program partial sums, the gradient, the label flag
    assert written == str(['grad_ptr', 'ok_ptr', 'out_ptr'])
    assert distinct == 'True'
