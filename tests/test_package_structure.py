"""The package's import structure, read from the source with ``ast`` (nothing is imported).

- no import cycle between the modules of :mod:`asl_mmdet` (absolute and relative imports,
  imports inside functions, and ``importlib.import_module`` with a literal name all count);
- no module imports or reads a private name (``_x``) of another module of the package;
- no name bound in a package's ``__init__`` shadows one of its submodules (a function
  ``asl_mmdet.ops.x`` hiding the module ``asl_mmdet/ops/x.py``);
- ``from asl_mmdet.ops import *`` works without Triton.
"""
import ast
import importlib.util
import os
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest
from tests.run_utils import ROOT, run_python

PACKAGE = 'asl_mmdet'


def module_files() -> Dict[str, str]:
    """Dotted module name -> path, for every module of the package."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
        for name in files:
            if not name.endswith('.py'):
                continue
            parts = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            modules['.'.join(parts)] = os.path.join(folder, name)
    return modules


MODULES = module_files()


def is_package(module: str) -> bool:
    return MODULES[module].endswith('__init__.py')


def resolve(module: str, level: int, name: Optional[str]) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name
    base = module.split('.')
    base = base[:len(base) - level + (1 if is_package(module) else 0)]
    return '.'.join(base + ([name] if name else []))


def imports(module: str) -> Iterator[Tuple[str, List[str], int]]:
    """``(imported module, names taken from it, line)`` for every import in ``module``,
    wherever it is (module level, functions, branches)."""
    with open(MODULES[module]) as f:
        tree = ast.parse(f.read(), MODULES[module])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            yield (resolve(module, node.level, node.module), [a.name for a in node.names],
                   node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == 'import_module' and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            name = node.args[0].value
            if name.startswith('.'):  # import_module('.x', __package__)
                level = len(name) - len(name.lstrip('.'))
                package = (module if is_package(module) else module.rsplit('.', 1)[0]).split('.')
                name = '.'.join(package[:len(package) - level + 1] + [name[level:]])
            yield name, [], node.lineno


def edges(module: str) -> Iterator[Tuple[str, str, int]]:
    """``(target module, imported name or '', line)`` for each import of a package module:
    ``from p import x`` goes to ``p.x`` when that is a module, else to ``p``."""
    for target, names, line in imports(module):
        if not target.startswith(PACKAGE):
            continue
        for name in names or ['']:
            if f'{target}.{name}' in MODULES:
                yield f'{target}.{name}', '', line
            elif target in MODULES:
                yield target, name, line


def import_graph() -> Dict[str, Set[str]]:
    return {module: {target for target, _, _ in edges(module) if target != module}
            for module in MODULES}


def cycles(graph: Dict[str, Set[str]]) -> List[Tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), as sorted
    tuples."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_relative_and_function_level_imports():
    ops = import_graph()['asl_mmdet.ops.dispatch']
    assert {'asl_mmdet.ops.reference', 'asl_mmdet.ops.fused'} <= ops  # .fused: in a function
    assert 'asl_mmdet.ops.fused' in import_graph()['asl_mmdet.ops.fused_support']  # importlib
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [('a', 'b', 'c')]


def test_no_import_cycle():
    assert cycles(import_graph()) == [], 'import cycles'


def test_no_private_name_of_another_module():
    bad = []
    for module in MODULES:
        bound = {}  # local name -> package module it stands for
        for target, name, line in edges(module):
            if name.startswith('_') and not name.startswith('__'):
                bad.append(f'{module}:{line} imports {name} from {target}')
        with open(MODULES[module]) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = resolve(module, node.level, node.module)
                for alias in node.names:
                    if f'{target}.{alias.name}' in MODULES:
                        bound[alias.asname or alias.name] = f'{target}.{alias.name}'
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in MODULES:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and node.attr.startswith('_')
                    and not node.attr.startswith('__')):
                bad.append(f'{module}:{node.lineno} reads {node.attr} of {bound[node.value.id]}')
    assert not bad, '\n'.join(bad)


def test_no_name_shadows_a_submodule():
    bad = []
    for package in (m for m in MODULES if is_package(m)):
        with open(MODULES[package]) as f:
            tree = ast.parse(f.read())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                source = resolve(package, node.level, node.module)
                names = [(a.asname or a.name, f'{source}.{a.name}') for a in node.names]
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [(node.name, None)]
            elif isinstance(node, ast.Assign):
                names = [(t.id, None) for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name, origin in names:
                submodule = f'{package}.{name}'
                if submodule in MODULES and origin != submodule:
                    bad.append(f'{package}: {name} hides the module {submodule}')
    assert not bad, '\n'.join(bad)


@pytest.mark.skipif(importlib.util.find_spec('triton') is None,
                    reason='Triton is missing anyway: the import tests cover it')
def test_star_import_of_ops_without_triton():
    """In a process where ``import triton`` fails (and ``find_spec`` finds nothing), the ops
    import, ``*`` gives every name of ``__all__``, and the loss runs the reference."""
    code = '\n'.join([
        'import sys',
        'sys.modules["triton"] = None  # import triton: ModuleNotFoundError, find_spec: None',
        'from asl_mmdet.ops import *',
        'import asl_mmdet.ops as ops, torch',
        'assert set(ops.__all__) <= set(globals())',
        'assert not ops.dispatch.HAS_TRITON',
        'loss = asymmetric_loss(torch.randn(4, 3), torch.tensor([0, 1, 3, 2]))',
        'assert loss.grad_fn is None and loss.ndim == 0',
        'try:',
        '    ops.asymmetric_loss_fused',
        'except ImportError:',
        '    print("fused: ImportError")',
    ])
    result = run_python('-c', code, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'fused: ImportError' in result.stdout


def _python_files(folder: str) -> List[str]:
    return sorted(os.path.join(dirpath, name) for dirpath, _, names in
                  os.walk(os.path.join(ROOT, folder)) for name in names if name.endswith('.py'))


@pytest.mark.parametrize('path', _python_files('tools'), ids=lambda p: os.path.relpath(p, ROOT))
def test_a_tool_holds_argument_parsing_and_calls_only(path):
    """A script under tools/ defines no function but ``parse_args`` and ``main`` and no class:
    what it computes lives in the package, where tests import it."""
    with open(path) as f:
        tree = ast.parse(f.read())
    defined = [node.name for node in tree.body
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    assert set(defined) <= {'parse_args', 'main'}, defined


def test_no_test_loads_a_tool_by_its_path():
    """Tests run tools/ scripts as a user does (a subprocess) and import the package otherwise:
    no ``sys.path`` edits and no ``spec_from_file_location`` of a file under tools/."""
    bad = []
    for path in _python_files('tests'):
        with open(path) as f:
            source = f.read()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            call = ast.get_source_segment(source, node)  # ast.unparse needs Python 3.9
            if ast.get_source_segment(source, node.func).startswith('sys.path.') or (
                    node.func.attr == 'spec_from_file_location' and 'tools' in call):
                bad.append(f'{os.path.relpath(path, ROOT)}:{node.lineno}: {call}')
    assert bad == []


def test_no_test_module_imports_another():
    """What tests share lives in helper modules (tests/asl_oracle.py, tests/run_utils.py,
    tests/test_ops/helpers.py, ...), conftest fixtures or a package's __init__.py: a test module
    imports no other test module."""
    bad = []
    for path in _python_files('tests'):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith('tests.') and name.split('.')[-1].startswith('test_') and \
                        os.path.isfile(os.path.join(ROOT, *name.split('.')) + '.py'):
                    bad.append(f'{os.path.relpath(path, ROOT)}:{node.lineno} imports {name}')
    assert bad == []
