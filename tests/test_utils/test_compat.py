"""asl_mmdet.utils.compat, and the check that catches the next version break (issue 19).

Every dotted torch / Triton name that the package and the tools use (``torch.x.y``, ``tl.z``,
``from torch.library import w``; methods called on tensors are not seen) must be listed in
``oldest_stack_apis.txt`` beside this file: a plain line for a name that exists in the oldest
supported stack (torch 2.1.2, Triton 2.1.0: ``make test-compat`` resolves every one of them),
``kernels`` after the name for one that only the fused kernel modules use, which run where
:func:`compat.kernels_unsupported` is None (Triton >= 3.0: resolved on such stacks). A name
that is new (in the code, not in the list) fails here on every stack: check it in the oldest
versions, or put it behind :mod:`asl_mmdet.utils.compat` (not scanned), then list it.
"""
import ast
import importlib
import os
import os.path as osp
import re
import warnings
from typing import Dict, Iterator, Set, Tuple

import pytest
import torch

from asl_mmdet.utils import compat
from tests.run_utils import ROOT

LISTED = osp.join(osp.dirname(__file__), 'oldest_stack_apis.txt')
SCANNED = ('asl_mmdet', 'tools')
ROOTS = ('torch', 'triton')
# run only where compat says the kernels compile: names from them may be newer than Triton 2.1
KERNEL_MODULES = {'asl_mmdet/ops/fused.py', 'asl_mmdet/ops/fused_single_label.py',
                  'asl_mmdet/ops/compile_report.py'}
OLDEST = {'torch': (2, 1, 2), 'triton': (2, 1, 0)}
ON_OLDEST_STACK = (compat.TORCH_VERSION == OLDEST['torch']
                   and compat.triton_version() == OLDEST['triton'])
# namespaces filled at run time: the chain stops there
DYNAMIC = ('torch.ops', )


def _python_files() -> Iterator[str]:
    for top in SCANNED:
        for folder, _, files in os.walk(osp.join(ROOT, top)):
            for name in sorted(files):
                path = osp.relpath(osp.join(folder, name), ROOT)
                if name.endswith('.py') and path != osp.join('asl_mmdet', 'utils', 'compat.py'):
                    yield path


def _aliases(tree: ast.AST) -> Dict[str, str]:
    """Local name -> the dotted torch / Triton name it is bound to by an import."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] in ROOTS:
                    local = alias.asname or alias.name.split('.')[0]
                    names[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.split('.')[0] in ROOTS:
                for alias in node.names:
                    names[alias.asname or alias.name] = f'{node.module}.{alias.name}'
    return names


def _chain(node: ast.Attribute, aliases: Dict[str, str]):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    dotted = '.'.join([aliases[node.id]] + parts[::-1])
    for namespace in DYNAMIC:
        if dotted.startswith(namespace + '.'):
            return namespace
    return dotted


def used_apis() -> Dict[str, Set[str]]:
    """Every dotted torch / Triton name used in the scanned files -> the files using it."""
    used: Dict[str, Set[str]] = {}
    for path in _python_files():
        with open(osp.join(ROOT, path)) as f:
            tree = ast.parse(f.read())
        aliases = _aliases(tree)
        inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and id(node) not in inner:
                dotted = _chain(node, aliases)
                if dotted is not None:
                    used.setdefault(dotted, set()).add(path)
        for dotted in aliases.values():  # names imported, used or not
            used.setdefault(dotted, set()).add(path)
    return used


def listed_apis() -> Dict[str, str]:
    """The names of oldest_stack_apis.txt -> '' (in the oldest stack) or 'kernels'."""
    listed = {}
    with open(LISTED) as f:
        for line in f:
            line = line.split('#')[0].split()
            if line:
                listed[line[0]] = line[1] if len(line) > 1 else ''
    return listed


def resolve(dotted: str):
    """The object a dotted name names, importing submodules on the way (AttributeError or
    ImportError if it does not exist here)."""
    parts = dotted.split('.')
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 2):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module('.'.join(parts[:i]))
    return obj


def _missing(names) -> Iterator[Tuple[str, str]]:
    for name in sorted(names):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            try:
                resolve(name)
            except (AttributeError, ImportError) as exc:
                yield name, f'{type(exc).__name__}: {exc}'


def test_every_used_api_is_listed():
    used, listed = used_apis(), listed_apis()
    new = {name: files for name, files in used.items() if name not in listed}
    assert not new, (
        'torch / Triton names not checked against the oldest supported stack (torch '
        '2.1.2, Triton 2.1.0): check each there (make test-compat) or call it through '
        f'asl_mmdet.utils.compat, then list it in {osp.relpath(LISTED, ROOT)}:\n' + '\n'.join(
            f'{name}  ({", ".join(sorted(files))})' for name, files in sorted(new.items())))
    kernel_only = {name for name, files in used.items() if files <= KERNEL_MODULES}
    wrongly_plain = sorted(name for name in used if listed[name] == 'kernels'
                           and name not in kernel_only)
    assert not wrongly_plain, f'used outside the kernel modules: {wrongly_plain}'


def test_no_stale_entries():
    stale = sorted(set(listed_apis()) - set(used_apis()))
    assert not stale, f'listed but no longer used: {stale}'


@pytest.mark.skipif(not ON_OLDEST_STACK, reason=f'needs the oldest stack (torch '
                    f'{OLDEST["torch"]}, Triton {OLDEST["triton"]}): make test-compat')
def test_listed_apis_exist_in_the_oldest_stack():
    plain = [name for name, kind in listed_apis().items() if not kind]
    assert list(_missing(plain)) == []


@pytest.mark.skipif(compat.kernels_unsupported() is not None,
                    reason=compat.kernels_unsupported() or '')
def test_listed_apis_exist_where_the_kernels_run():
    assert list(_missing(listed_apis())) == []


def test_release():
    assert compat.release('2.1.2+cu121') == (2, 1, 2)
    assert compat.release('3.0.0') >= compat.MIN_TRITON_FOR_KERNELS
    assert compat.release('2.14.1') > compat.MIN_TORCH_FOR_TRITON_OP
    assert compat.TORCH_VERSION == compat.release(torch.__version__)


def test_is_compiling_is_true_only_while_dynamo_traces():
    def step(x):
        return x + 1 if compat.is_compiling() else x

    x = torch.zeros(2)
    assert torch.equal(step(x), x)
    assert torch.equal(torch.compile(step, backend='eager')(x), x + 1)


def test_flags_match_this_torch():
    assert compat.HAS_TRITON_OP == hasattr(torch.library, 'triton_op')
    assert compat.HAS_CUSTOM_OP == hasattr(torch.library, 'custom_op')
    assert compat.HAS_TRITON_OP == (compat.TORCH_VERSION >= compat.MIN_TORCH_FOR_TRITON_OP)
    if not compat.HAS_TRITON_OP:
        with pytest.raises(RuntimeError, match=r'torch\.library\.triton_op.*torch >= 2\.6'):
            compat.triton_op('asl_mmdet_test::never', lambda x: x, mutates_args=())


@pytest.mark.parametrize('version, kernels, report', [
    (None, 'Triton is not installed', 'Triton is not installed'),
    ((2, 1, 0), r'Triton 2\.1\.0 can not compile the fused kernels: they need Triton >= 3\.0',
     r'Triton 2\.1\.0 can not compile'),
    ((3, 0, 0), None, r'Triton 3\.0\.0: the compile report needs Triton >= 3\.3'),
    ((3, 8, 0), None, None),
])
def test_what_the_installed_triton_can_do(monkeypatch, version, kernels, report):
    monkeypatch.setattr(compat, 'triton_version', lambda: version)
    for reason, expected in [(compat.kernels_unsupported(), kernels),
                             (compat.compile_report_unsupported(), report)]:
        if expected is None:
            assert reason is None
        else:
            assert re.search(expected, reason), reason
