"""What the fused kernels compile to, on a machine without a GPU.

Triton compiles for a GPU without one: :func:`compile_only` replaces Triton's active driver by
a stand-in whose current target is the requested ``sm_XX`` (device 0, stream 0) and makes every
:class:`triton.JITFunction` launch a compile-only warm-up. The project's own host functions
(:func:`asl_forward_fused`, :func:`scale_grad_`, :func:`asl_single_label_forward_fused`) are
then called on CPU tensors of the real shape (allocated, never touched), so Triton specialises
on the real strides and 16-byte alignment and compiles exactly the variants, with the launch
configuration, that the host would launch. :func:`analyze` reads the cubin with the tools the
triton wheel ships (``cuobjdump --dump-resource-usage`` for registers and spills, ``nvdisasm``
for the SASS; both passes of the single-label kernel count as its loop) and :func:`predict_ms`
turns bytes and instructions into a time with a simple roofline *model*.

The kernel module must be imported compiled (without ``TRITON_INTERPRET=1``): run this in a
process of its own (``tools/benchmarks/kernel_report.py``, or ``python -m
asl_mmdet.ops.compile_report``) so that the swapped driver never reaches other code.
"""
import contextlib
import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from ..utils import compat
from ..utils.tables import markdown_table

__all__ = ['TARGETS', 'DEFAULT_SHAPE', 'SINGLE_LABEL_SHAPE', 'H100', 'CALIBRATION', 'Variant',
           'KernelFacts', 'VARIANTS', 'DEFAULT_VARIANTS', 'CI_MATRIX', 'BUDGETS', 'MAX_REGISTERS',
           'has_nvidia_backend', 'compile_only', 'compile_variant', 'analyze', 'occupancy',
           'predict_ms', 'report', 'format_table', 'check', 'main']

# The GPUs users train on: T4, A100, H100, B200 (sm_70 compiles, but the shipped nvdisasm no
# longer reads it).
TARGETS = (75, 80, 86, 89, 90, 100, 120)
DEFAULT_SHAPE = (358400, 80)  # ATSS's anchors of 8 images at 1333 x 800, 80 classes
SINGLE_LABEL_SHAPE = (256, 21843)  # a batch of ImageNet-21k logits: the single-label kernel


@dataclasses.dataclass(frozen=True)
class GPU:
    """What the occupancy and time model needs of a GPU."""
    name: str
    sms: int
    clock_ghz: float  # boost clock
    issue_per_clock: int  # warp-instructions per SM per clock (4 schedulers)
    copy_tb_s: float  # measured device-to-device copy rate
    regs_per_sm: int = 65536
    max_warps_per_sm: int = 64
    max_blocks_per_sm: int = 32
    smem_per_sm: int = 228 * 1024
    reg_alloc_unit: int = 256  # registers, per warp


H100 = GPU('H100 SXM', sms=132, clock_ghz=1.755, issue_per_clock=4, copy_tb_s=3.0)
# A flat-indexed ASL probe timed on an H100 at 0.272 ms (forward + backward, 358400 x 80 fp32)
# where this model says 0.22 ms: the model is optimistic by about 20%.
CALIBRATION = ('flat-indexed ASL probe, forward + backward at 358400 x 80 fp32, 232 SASS '
               'instructions per element: timed 0.272 ms on an H100, modelled 0.22 ms '
               '(the model is ~20% optimistic)')


@dataclasses.dataclass(frozen=True)
class Variant:
    """One launch of the host functions: a loss configuration and its inputs' kinds."""
    name: str
    dtype: str = 'float32'  # the logits'
    target: str = 'index'  # 'index': (N,) class indices; 'dense': (N, C) float32 labels
    gamma_pos: float = 0.0
    gamma_neg: float = 4.0
    clip: float = 0.05
    alpha: Optional[float] = None
    detach: bool = False
    weight: Optional[str] = None  # None, 'n1' (one per row) or 'nc'
    class_weight: bool = False  # a (C,) weight per class on top of weight
    prob_sums: bool = False
    reduce: bool = True
    kernel: str = 'forward'  # or 'scale_scalar', 'scale_elementwise' (backward), 'single_label'
    label_smoothing: float = 0.0  # single_label only
    need_grad: bool = True  # the gradient written (forward without grad when False)
    shape: Optional[Tuple[int, int]] = None  # its own logits' shape, else the report's
    # 'contiguous'; 'transposed': logits of strides (1, N); 'unaligned': labels and weights one
    # element into their storage (a level's slice of a flattened batch, as the heads make them)
    layout: str = 'contiguous'
    index_dtype: str = 'int64'  # of class-index targets

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


_LOSSES = {
    # the detection configs' loss (configs/*_asl.py): class indices, a weight per anchor
    'detection': dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.02, alpha=0.25, weight='n1'),
    # the classification default (ASLoss's defaults, the official recipe's detached weights)
    'classification': dict(gamma_pos=0.0, gamma_neg=4.0, clip=0.05, detach=True),
    'non-integer gamma': dict(gamma_pos=0.5, gamma_neg=1.5, clip=0.3, alpha=0.4),
    'detection + prob sums': dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.02, alpha=0.25,
                                  weight='n1', prob_sums=True),
    # ASLoss(class_weight=[...]) in a detection config: a (C,) vector on top of the row weight
    'detection + class weight': dict(gamma_pos=1.0, gamma_neg=2.0, clip=0.02, alpha=0.25,
                                     weight='n1', class_weight=True),
}
_DTYPES = ('float32', 'bfloat16', 'float16')
_SHORT = {'float32': 'fp32', 'bfloat16': 'bf16', 'float16': 'fp16'}


def _matrix() -> List[Variant]:
    variants = []
    for loss, params in _LOSSES.items():
        for target in ('index', 'dense'):
            for dtype in _DTYPES:
                variants.append(Variant(f'{loss}, {target}, {_SHORT[dtype]}', dtype, target,
                                        **params))
    for dtype in _DTYPES:
        variants.append(Variant(f'backward: grad *= scalar, {_SHORT[dtype]}', dtype,
                                kernel='scale_scalar'))
        variants.append(Variant(f'backward: grad *= (N, C), {_SHORT[dtype]}', dtype,
                                kernel='scale_elementwise'))
    # the single-label (softmax) kernel: gammas and smoothing are runtime arguments, so its
    # variants are the logits' dtype, a per-sample weight and whether the gradient is needed
    single = dict(kernel='single_label', gamma_pos=0.0, gamma_neg=4.0, label_smoothing=0.1,
                  shape=SINGLE_LABEL_SHAPE)
    for dtype in _DTYPES:
        variants.append(Variant(f'single-label, index, {_SHORT[dtype]}', dtype, **single))
        variants.append(Variant(f'single-label, index, weight, {_SHORT[dtype]}', dtype,
                                weight='n', **single))
    variants.append(Variant('single-label, index, no grad, fp32', need_grad=False, **single))
    return variants


VARIANTS = _matrix()
_BY_NAME = {variant.name: variant for variant in VARIANTS}
# The two defaults of issue 12 and their budgets (358400 x 80, fp32 and bf16)
DEFAULT_VARIANTS = [
    _BY_NAME['detection, index, fp32'], _BY_NAME['detection, index, bf16'],
    _BY_NAME['classification, dense, fp32'], _BY_NAME['classification, dense, bf16']
]
# What `make test` compiles (tests/test_ops/test_kernel_compile.py): every variant for sm_90,
# and for the other targets the defaults, one of each other forward flag and the backward
# kernels (about a minute on 2 cores with Triton's cache cold).
_CI_OTHERS = DEFAULT_VARIANTS + [
    _BY_NAME['detection + prob sums, index, fp32'], _BY_NAME['non-integer gamma, dense, fp16'],
    _BY_NAME['backward: grad *= scalar, fp32'], _BY_NAME['backward: grad *= (N, C), bf16'],
    _BY_NAME['single-label, index, bf16']
]
# Every option the dispatch passes to the forward kernel, with the values that change its
# compiled code (the gammas' POW codes; C picks BLOCK_C, EVEN_C and the warps: 80 -> 16 even,
# 81 -> 32 masked, 7 -> 8 masked, 32 -> 32 even, 300 -> 256 masked; 3 x 90001 splits its
# columns across programs)
FACTORS = {
    'dtype': _DTYPES,
    'target': ('index', 'dense'),
    'gamma_pos': (0.0, 1.0, 2.0, 3.0, 4.0, 0.5),
    'gamma_neg': (4.0, 0.0, 1.0, 2.0, 3.0, 1.5),
    'clip': (0.05, 0.0),
    'alpha': (None, 0.25),
    'detach': (False, True),
    'weight': (None, 'n1', 'nc'),
    'class_weight': (False, True),
    'reduce': (True, False),
    'need_grad': (True, False),
    'prob_sums': (False, True),
    'shape': ((1000, 80), (1000, 81), (1000, 7), (1000, 32), (200, 300), (3, 90001)),
    'layout': ('contiguous', 'transposed', 'unaligned'),
    'index_dtype': ('int64', 'int32'),
}


def pairwise_variants(factors: Dict[str, Sequence] = FACTORS, seed: int = 0,
                      candidates: int = 30) -> List[Variant]:
    """Forward variants that together hold every pair of values of any two factors (a
    pairwise covering array, built greedily: each new variant is the best of ``candidates``
    random completions at covering pairs not yet held), so that a compile problem that needs
    two options at once is met, in a few dozen compiles instead of their product."""
    import itertools
    import random
    rng = random.Random(seed)
    names = list(factors)
    missing = {((a, i), (b, j)) for a, b in itertools.combinations(names, 2)
               for i in range(len(factors[a])) for j in range(len(factors[b]))}
    rows = []
    while missing:
        (a, i), (b, j) = min(missing)  # one pair still missing, seeded into every candidate
        best, best_gain = None, -1
        for _ in range(candidates):
            row = {name: rng.randrange(len(factors[name])) for name in names}
            row[a], row[b] = i, j
            for name in rng.sample(names, len(names)):  # greedy: the value covering most
                if name in (a, b):
                    continue
                row[name] = max(range(len(factors[name])), key=lambda v: sum(
                    ((name, v), (other, row[other])) in missing
                    or ((other, row[other]), (name, v)) in missing
                    for other in names if other != name))
            gain = sum(((x, row[x]), (y, row[y])) in missing
                       for x, y in itertools.combinations(names, 2))
            if gain > best_gain:
                best, best_gain = dict(row), gain
        missing -= {((x, best[x]), (y, best[y])) for x, y in itertools.combinations(names, 2)}
        rows.append(best)
    variants = []
    for number, row in enumerate(rows):
        values = {name: factors[name][index] for name, index in row.items()}
        label = ', '.join(f'{k}={v}' for k, v in values.items() if k != 'dtype')
        variants.append(Variant(f'pairwise {number}: {label}, {_SHORT[values["dtype"]]}',
                                **values))
    return variants


PAIRWISE = pairwise_variants()
_BY_NAME.update({variant.name: variant for variant in PAIRWISE})


def _ci_matrix() -> Dict[int, List[Variant]]:
    """What `make test` compiles: every named variant for sm_90; for the other targets the
    defaults, the CI subset above and, dealt round-robin, the pairwise variants (each compiled
    for one target, so every pair of options meets on some GPU generation). Below sm_80 no
    bfloat16 (the dispatch runs the reference there), and the float16 defaults and backward
    kernels."""
    matrix = {arch: list(VARIANTS if arch == 90 else _CI_OTHERS) for arch in TARGETS}
    others = [arch for arch in TARGETS if arch != 90]
    for index, variant in enumerate(PAIRWISE):
        arch = others[index % len(others)]
        if arch < 80 and variant.dtype == 'bfloat16':
            arch = others[(index + 1) % len(others)]
        matrix[arch].append(variant)
    # sm_75 (T4): fp16 is native there and runs the kernel; no bf16
    matrix[75] = [v for v in matrix[75] if v.dtype != 'bfloat16'] + [
        _BY_NAME[name] for name in ('detection, index, fp16', 'classification, dense, fp16',
                                    'backward: grad *= scalar, fp16',
                                    'backward: grad *= (N, C), fp16',
                                    'single-label, index, fp16')]
    return matrix


CI_MATRIX = _ci_matrix()
MAX_REGISTERS = 128  # per thread, any variant: beyond it occupancy drops below 25% on H100
BUDGETS = {  # variant name prefix: (SASS per element in the main loop, registers per thread)
    'detection, index': (40, 64),
    'classification, dense': (50, 64),
}
MAX_TIME_OVER_FLOOR = 1.5


def has_nvidia_backend() -> Tuple[bool, str]:
    """Whether the installed Triton can compile for NVIDIA GPUs here, and if not, why."""
    reason = compat.compile_report_unsupported()
    if reason is not None:
        return False, reason
    import triton
    from triton.backends import backends
    if 'nvidia' not in backends:
        return False, f'Triton {triton.__version__} has no NVIDIA backend'
    missing = [tool for tool in ('ptxas', 'cuobjdump', 'nvdisasm') if _tool(tool) is None]
    if missing:
        return False, f'Triton {triton.__version__} ships no {", ".join(missing)}'
    return True, ''


def _tool(name: str) -> Optional[str]:
    import triton
    path = os.path.join(os.path.dirname(triton.__file__), 'backends', 'nvidia', 'bin', name)
    return path if os.access(path, os.X_OK) else None


class _CompileOnlyDriver:
    """Triton's driver interface, enough for compiling: a fixed target, device 0, stream 0."""

    def __init__(self, arch: int):
        from triton.backends.compiler import GPUTarget
        from triton.backends.nvidia.driver import ty_to_cpp
        self.target = GPUTarget('cuda', arch, 32)
        self.map_python_to_cpp_type = ty_to_cpp

    def is_active(self):
        return True

    def get_current_target(self):
        return self.target

    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def get_active_torch_device(self):
        return torch.device('cpu')

    def get_device_capability(self, device=0):
        return divmod(self.target.arch, 10)


@dataclasses.dataclass
class Launch:
    """A kernel the host functions asked for: the compiled kernel and its launch."""
    name: str
    compiled: object
    grid: Tuple[int, ...]
    constants: Dict[str, object]
    kernel: object = None  # the JITFunction
    arguments: Dict[str, object] = dataclasses.field(default_factory=dict)  # by name


@contextlib.contextmanager
def compile_only(arch: int) -> Iterator[List[Launch]]:
    """Within the block, Triton compiles for ``sm_<arch>`` and launches nothing: every
    ``JITFunction`` run compiles (or takes from Triton's cache) and is recorded in the yielded
    list. Triton's driver, the JIT's run method and the kernels' in-memory caches are restored
    on exit."""
    from triton.runtime import driver
    from triton.runtime.jit import JITFunction

    launches: List[Launch] = []
    original_run = JITFunction.run
    caches = {}

    def run(self, *args, grid, warmup, **kwargs):
        if self not in caches:  # a fresh in-memory cache: keyed by device 0 of this target
            caches[self] = self.device_caches
            self.device_caches = type(self.device_caches)(self.create_binder)
        kernel = original_run(self, *args, grid=grid, warmup=True, **kwargs)
        names = [param.name for param in self.params]
        bound = dict(zip(names, args))
        bound.update(kwargs)
        constants = {name: bound[name] for name in names
                     if name in bound and self.params[names.index(name)].is_constexpr}
        constants['num_warps'] = kernel.metadata.num_warps
        launches.append(Launch(self.fn.__name__, kernel, tuple(grid), constants, self, bound))
        return kernel

    previous = driver._active
    driver.set_active(_CompileOnlyDriver(arch))
    JITFunction.run = run
    try:
        yield launches
    finally:
        JITFunction.run = original_run
        driver._active = previous
        for function, cache in caches.items():
            function.device_caches = cache


def _inputs(variant: Variant, shape: Tuple[int, int]):
    """CPU tensors of the real shape and layout, allocated and never written."""
    num_rows, num_cols = shape
    pred = torch.empty(shape, dtype=variant.torch_dtype)
    if variant.layout == 'transposed':
        pred = torch.empty(shape[::-1], dtype=variant.torch_dtype).t()
    skip = 1 if variant.layout == 'unaligned' else 0

    def empty(*size, dtype=torch.float32):  # ``skip`` elements into its storage
        flat = torch.empty(skip + math.prod(size), dtype=dtype)
        return flat[skip:].view(size)

    if variant.target == 'index':  # int64: what the dense heads pass
        target = empty(num_rows, dtype=getattr(torch, variant.index_dtype))
    else:
        target = empty(*shape)  # mmpretrain's stacked labels
    weight = {None: lambda: None, 'n': lambda: empty(num_rows),
              'n1': lambda: empty(num_rows).view(num_rows, 1),
              'nc': lambda: empty(*shape)}[variant.weight]()
    class_weight = torch.empty(num_cols) if variant.class_weight else None
    return pred, target, weight, class_weight


def bytes_per_element(variant: Variant, shape: Tuple[int, int] = DEFAULT_SHAPE) -> float:
    """DRAM bytes the launch must move per element (each input read once, outputs written)."""
    num_rows, num_cols = shape
    size = torch.empty(0, dtype=variant.torch_dtype).element_size()
    if variant.kernel == 'scale_scalar':
        return 2 * size
    if variant.kernel == 'scale_elementwise':
        return 2 * size + 4  # grad read and written, a float32 grad_output read
    if variant.kernel == 'single_label':
        # logits read twice (one pass each, L2 does not hold a 21843-wide row block), the
        # gradient written (float32 for float16 logits); per row: an index, a weight, a loss
        grad_size = (4 if variant.dtype == 'float16' else size) if variant.need_grad else 0
        passes = 2 if variant.need_grad else 1
        per_row = 8 + 4 + (4 if variant.weight else 0)
        return passes * size + grad_size + per_row / num_cols
    pred, target, weight, class_weight = _inputs(variant, shape)
    total = 2 * size  # logits in, gradient out
    total += target.element_size() * (1 if variant.target == 'dense' else 1 / num_cols)
    if weight is not None:
        total += 4 * (1 if variant.weight == 'nc' else 1 / num_cols)
    if class_weight is not None:
        total += 4 / num_rows
    if not variant.reduce:
        total += size
    return total


def compile_variant(variant: Variant, arch: int,
                    shape: Tuple[int, int] = DEFAULT_SHAPE) -> List[Launch]:
    """Compile, through the host functions, the kernels ``variant`` launches on ``sm_<arch>``."""
    from .fused import INTERPRETED, asl_forward_fused, scale_grad_
    from .fused_single_label import asl_single_label_forward_fused
    if INTERPRETED:
        raise RuntimeError('the Triton kernels were imported under TRITON_INTERPRET=1: compile '
                           'them in a process without it')
    with compile_only(arch) as launches:
        if variant.kernel == 'forward':
            pred, target, weight, class_weight = _inputs(variant, shape)
            scale = 1.0 / shape[0]
            grad_scale = 1.0 if variant.dtype == 'float16' else scale
            asl_forward_fused(pred, target, weight, variant.gamma_pos, variant.gamma_neg,
                              variant.clip, variant.alpha, variant.detach, variant.reduce,
                              scale, grad_scale, variant.need_grad, variant.prob_sums,
                              class_weight)
        elif variant.kernel == 'single_label':
            pred, target, weight, _ = _inputs(variant, shape)
            asl_single_label_forward_fused(pred, target, weight, variant.gamma_pos,
                                           variant.gamma_neg, variant.label_smoothing,
                                           1.0 / shape[0], variant.need_grad)
        else:
            grad = torch.empty(shape, dtype=variant.torch_dtype)
            grad_output = (torch.empty(()) if variant.kernel == 'scale_scalar'
                           else torch.empty(shape))
            scale_grad_(grad, grad_output, 0.5)
    return launches


@dataclasses.dataclass
class KernelFacts:
    """Compiled facts about one kernel launch, and the model's prediction."""
    variant: str
    kernel: str
    arch: int
    num_warps: int
    registers: int
    spill_bytes: int  # LOCAL memory per thread (spills and stack)
    shared_bytes: int
    occupancy_h100: float
    loop_instructions: int  # SASS of the main loop's body
    elements_per_trip: int  # per thread, per trip of the main loop
    sass_per_element: float  # in the main loop
    mufu_per_element: float
    total_per_element: float  # all SASS a thread issues, over its elements (model input)
    load_bits: List[int]
    store_bits: List[int]
    bytes_per_element: float
    predicted_ms: float
    floor_ms: float

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


_INSTRUCTION = re.compile(r'/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;')
_LABEL = re.compile(r'^\s*(\.L_x_\d+):')
_BRANCH_TARGET = re.compile(r'`\((\.L_x_\d+)\)')


def _sass(cubin: bytes) -> Tuple[List[Tuple[int, str]], Dict[str, int], str]:
    """The kernel's SASS in ``cubin`` as ``(offset, instruction)``, its labels' offsets and
    ``cuobjdump``'s resource usage."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'kernel.cubin')
        with open(path, 'wb') as file:
            file.write(cubin)
        text = subprocess.run([_tool('nvdisasm'), '-c', path], check=True,
                              capture_output=True, text=True).stdout
        usage = subprocess.run([_tool('cuobjdump'), '--dump-resource-usage', path],
                               check=True, capture_output=True, text=True).stdout
    instructions, labels, pending = [], {}, []
    for line in text.splitlines():
        label = _LABEL.match(line)
        if label:
            pending.append(label.group(1))
            continue
        match = _INSTRUCTION.search(line)
        if match:
            offset = int(match.group(1), 16)
            for name in pending:
                labels[name] = offset
            pending = []
            instructions.append((offset, match.group(2)))
    return instructions, labels, usage


def _resources(usage: str) -> Tuple[int, int, int]:
    def field(name):
        match = re.search(rf'\b{name}:(\d+)', usage)
        return int(match.group(1)) if match else 0

    return field('REG'), field('LOCAL') + field('STACK'), field('SHARED')


def _opcode(instruction: str) -> str:
    words = instruction.split()
    if words and words[0].startswith('@'):  # predicate
        words = words[1:]
    return words[0] if words else ''


def _loops(instructions, labels) -> List[Tuple[int, int]]:
    """``(first, last)`` indices of every loop: a backward branch and its label."""
    index = {offset: i for i, (offset, _) in enumerate(instructions)}
    loops = []
    for i, (offset, text) in enumerate(instructions):
        if not _opcode(text).startswith('BRA'):
            continue
        target = _BRANCH_TARGET.search(text)
        if not target or labels.get(target.group(1), offset + 1) > offset:
            continue
        first = index[labels[target.group(1)]]
        if first != i:  # the padding after EXIT branches to itself
            loops.append((first, i))
    return loops


def _main_loop(instructions, labels) -> Optional[Tuple[int, int]]:
    """``(first, last)`` indices of the largest loop."""
    return max(_loops(instructions, labels), key=lambda loop: loop[1] - loop[0], default=None)


def _outer_loops(instructions, labels) -> List[Tuple[int, int]]:
    """The loops not inside another one (the single-label kernel's two passes)."""
    loops = _loops(instructions, labels)
    return [a for a in loops if not any(b != a and b[0] <= a[0] and a[1] <= b[1]
                                        for b in loops)]


def _width(opcode: str) -> int:
    for bits in (256, 128, 64):
        if f'.{bits}' in opcode:
            return bits
    if '.U16' in opcode or '.S16' in opcode:
        return 16
    if '.U8' in opcode or '.S8' in opcode:
        return 8
    return 32


def occupancy(registers: int, num_warps: int, shared_bytes: int = 0, gpu: GPU = H100) -> float:
    """Theoretical occupancy (resident warps over the maximum) of a launch."""
    regs_per_warp = math.ceil(max(registers, 1) * 32 / gpu.reg_alloc_unit) * gpu.reg_alloc_unit
    warps = gpu.regs_per_sm // regs_per_warp // num_warps * num_warps
    blocks = min(warps // num_warps, gpu.max_blocks_per_sm, gpu.max_warps_per_sm // num_warps)
    if shared_bytes:
        blocks = min(blocks, gpu.smem_per_sm // (shared_bytes + 1024))
    return blocks * num_warps / gpu.max_warps_per_sm


def predict_ms(elements: int, bytes_per_elem: float, instructions_per_elem: float,
               gpu: GPU = H100) -> Tuple[float, float]:
    """The model: ``max(bytes / copy rate, instructions / issue rate)`` and the memory floor,
    in milliseconds. Not a measurement: see ``CALIBRATION``."""
    floor = elements * bytes_per_elem / (gpu.copy_tb_s * 1e12) * 1e3
    issue = elements * instructions_per_elem / 32 / (gpu.sms * gpu.issue_per_clock
                                                     * gpu.clock_ghz * 1e9) * 1e3
    return max(floor, issue), floor


def analyze(variant: Variant, launch: Launch, arch: int,
            shape: Tuple[int, int] = DEFAULT_SHAPE) -> KernelFacts:
    """Registers, spills, SASS of the main loop and the model's time for one launch."""
    instructions, labels, usage = _sass(launch.compiled.asm['cubin'])
    registers, spill, shared = _resources(usage)
    shared = max(shared, getattr(launch.compiled.metadata, 'shared', 0))
    num_warps = launch.constants['num_warps']
    threads = 32 * num_warps
    c = launch.constants
    tile = c['BLOCK'] if 'BLOCK' in c else c['BLOCK_N'] * c['BLOCK_C']
    per_trip = max(tile // threads, 1)
    if variant.kernel == 'single_label':  # both passes run over every element: both count
        loops = _outer_loops(instructions, labels)
        loop = loops[0] if loops else None
        body = [item for first, last in loops for item in instructions[first:last + 1]]
    else:
        loop = _main_loop(instructions, labels)
        body = instructions[loop[0]:loop[1] + 1] if loop else []
    if not loop:
        body = [item for item in instructions if _opcode(item[1]) not in ('NOP', 'EXIT', 'BRA')]
    opcodes = [_opcode(text) for _, text in body]
    mufu = sum(op.startswith('MUFU') for op in opcodes)
    loads = sorted({_width(op) for op in opcodes if op.startswith(('LDG', 'LD.'))})
    stores = sorted({_width(op) for op in opcodes if op.startswith(('STG', 'ST.'))})
    elements = shape[0] * shape[1]
    programs = math.prod(launch.grid)
    per_thread = elements / (programs * threads)  # elements each thread handles
    trips = per_thread / per_trip
    outside = sum(_opcode(text) not in ('NOP', ) for _, text in instructions) - len(body)
    if not loop:
        total = len(body) / per_trip
    else:
        total = (len(body) * trips + outside) / per_thread
    byte_count = bytes_per_element(variant, shape)
    predicted, floor = predict_ms(elements, byte_count, total)
    return KernelFacts(variant.name, launch.name, arch, num_warps, registers, spill, shared,
                       occupancy(registers, num_warps, shared), len(body), per_trip,
                       len(body) / per_trip, mufu / per_trip, total, loads, stores, byte_count,
                       predicted, floor)


def report(variants: Sequence[Variant] = VARIANTS, targets: Sequence[int] = TARGETS,
           shape: Tuple[int, int] = DEFAULT_SHAPE) -> List[KernelFacts]:
    """Compile and analyse every kernel each variant launches, for each target."""
    facts = []
    for arch in targets:
        for variant in variants:
            variant_shape = variant.shape or shape
            for launch in compile_variant(variant, arch, variant_shape):
                facts.append(analyze(variant, launch, arch, variant_shape))
    return facts


def _bits(bits: List[int]) -> str:
    return '/'.join(str(b) for b in bits) or '-'


def format_table(facts: Sequence[KernelFacts]) -> str:
    """A Markdown table of the facts."""
    return markdown_table([{
        'sm': f.arch, 'variant': f.variant, 'kernel': f.kernel.strip('_'),
        'regs': f.registers, 'spill B': f.spill_bytes,
        'occupancy (H100)': f'{f.occupancy_h100:.0%}',
        'SASS/elem (loop)': f'{f.sass_per_element:.1f}',
        'MUFU/elem': f'{f.mufu_per_element:.2f}',
        'SASS/elem (all)': f'{f.total_per_element:.1f}',
        'loads/stores (bits)': f'{_bits(f.load_bits)}/{_bits(f.store_bits)}',
        'B/elem': f'{f.bytes_per_element:.2f}', 'model ms': f'{f.predicted_ms:.4f}',
        'floor ms': f'{f.floor_ms:.4f}', 'model/floor': f'{f.predicted_ms / f.floor_ms:.2f}',
    } for f in facts])


def check(facts: Sequence[KernelFacts], budgets: bool = True) -> List[str]:
    """What breaks the rules: spills, more than MAX_REGISTERS registers, and (for the
    defaults) the issue's budgets. Empty when all is well."""
    problems = []
    for f in facts:
        where = f'sm_{f.arch} {f.variant} ({f.kernel})'
        if f.spill_bytes:
            problems.append(f'{where}: {f.spill_bytes} bytes of local memory (spills)')
        if f.registers > MAX_REGISTERS:
            problems.append(f'{where}: {f.registers} registers > {MAX_REGISTERS}')
        # sm_75 (T4) has no bfloat16 arithmetic: its conversions are emulated
        dtypes = ('fp32', 'bf16') if f.arch >= 80 else ('fp32', )
        budget = next((b for prefix, b in BUDGETS.items() if f.variant.startswith(prefix)
                       and f.variant.endswith(dtypes)), None)
        if budgets and budget and f.kernel == '_asl_forward_kernel':
            max_sass, max_regs = budget
            if f.sass_per_element > max_sass:
                problems.append(f'{where}: {f.sass_per_element:.1f} SASS per element > '
                                f'{max_sass}')
            if f.registers > max_regs:
                problems.append(f'{where}: {f.registers} registers > {max_regs}')
            if f.predicted_ms > MAX_TIME_OVER_FLOOR * f.floor_ms:
                problems.append(f'{where}: model {f.predicted_ms:.4f} ms > '
                                f'{MAX_TIME_OVER_FLOOR} x floor {f.floor_ms:.4f} ms')
            if f.arch >= 80 and 128 not in f.load_bits:
                problems.append(f'{where}: no 128-bit loads ({f.load_bits})')
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m asl_mmdet.ops.compile_report [--targets 90 ...] [--variants NAME ...]
    [--json]``: the facts as JSON lines (for the tests' subprocess) or a table."""
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--targets', type=int, nargs='+', default=list(TARGETS))
    parser.add_argument('--variants', nargs='+', help='names from VARIANTS (default: all)')
    parser.add_argument('--defaults', action='store_true', help='the two defaults only')
    parser.add_argument('--ci', action='store_true',
                        help="the tests' matrix (CI_MATRIX) instead of --targets/--variants")
    parser.add_argument('--json', action='store_true', help='one JSON object per launch')
    parser.add_argument('--check', action='store_true',
                        help='exit 1 on a spill, > 128 registers or a missed budget')
    args = parser.parse_args(argv)
    os.environ.pop('TRITON_INTERPRET', None)  # read when the kernels are imported, below
    ok, why = has_nvidia_backend()
    if not ok:
        print(why, file=sys.stderr)
        return 2
    variants = (DEFAULT_VARIANTS if args.defaults else
                [_BY_NAME[name] for name in args.variants] if args.variants else VARIANTS)
    if args.ci:
        facts = [f for arch, chosen in CI_MATRIX.items() for f in report(chosen, [arch])]
    else:
        facts = report(variants, args.targets)
    if args.json:
        for f in facts:
            print(json.dumps(f.as_dict()))
    else:
        import triton
        print(f'torch {torch.__version__}, triton {triton.__version__}, logits '
              f'{DEFAULT_SHAPE[0]} x {DEFAULT_SHAPE[1]} (single-label: '
              f'{SINGLE_LABEL_SHAPE[0]} x {SINGLE_LABEL_SHAPE[1]}); occupancy and times for an '
              f'{H100.name}')
        print(format_table(facts))
        print(f'\nmodel ms = max(bytes / {H100.copy_tb_s} TB/s, SASS / ({H100.sms} SMs x '
              f'{H100.issue_per_clock} x {H100.clock_ghz} GHz x 32 lanes)): a model, not a '
              f'measurement. Calibration: {CALIBRATION}. floor ms: the bytes alone.')
    problems = check(facts) if args.check else []
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
