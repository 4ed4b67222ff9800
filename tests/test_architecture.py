"""The plugins' structure: imports point down only, and no module imports itself through others.

The layers are those of the README's "How the code is organised". The demo server (``aiida_firecrest.demo``)
is a separate program and is not checked here yet.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aiida_firecrest

PACKAGE = Path(aiida_firecrest.__file__).parent

#: The plugins' modules by layer, lowest first: a module imports only from the layers below its own.
LAYERS: list[set[str]] = [
    {
        'secrets',
        'settings',
        'listings',
        'paths',
        'concurrency',
        'archives',
        'job_records',
        'resources',
        'computer_argument',
        'option_values',
        'ratelimit',
        'redaction',
    },
    {'probe', 'retries', 'progress'},
    {'errors'},
    {'auth', 'capabilities', 'configure_state'},
    {'server_facts', 'checked_requests', 'http_stack'},
    {'client'},
    {'remote', 'client_v1'},
    {'staging', 'job_notes', 'records_v1', 'staged_v1'},
    {'transfer', 'remote_v1', 'probe_v1'},
    {'server_checks', 'scheduler', 'backends'},
    {'config', 'transport_base', 'pbs'},
    {'file_queries'},
    {'file_changes'},
    {'put_get'},
    {'remote_archives'},
    {'transport'},
]


def _module_name(path: Path) -> str:
    return '.'.join(path.relative_to(PACKAGE.parent).with_suffix('').parts).removesuffix('.__init__')


def _imports(path: Path) -> set[str]:
    """The ``aiida_firecrest`` modules that ``path`` imports, anywhere in it (lazy imports included)."""
    module = _module_name(path)
    package = module if path.name == '__init__.py' else module.rpartition('.')[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                target = f'{base}.{node.module}' if node.module else base
                names = [f'{target}.{alias.name}' for alias in node.names] if not node.module else []
            else:
                target, names = node.module or '', []
            candidates = [target, *names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        for candidate in candidates:
            if candidate.startswith('aiida_firecrest') and _is_module(candidate):
                found.add(candidate)
    found.discard(module)
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split('.')[1:])
    return (PACKAGE / relative).with_suffix('.py').is_file() or (PACKAGE / relative / '__init__.py').is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in PACKAGE.rglob('*.py')}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (each once, as found by a depth-first search)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in sorted(graph.get(module, ())):
            if state.get(imported) == 1:
                found.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return found


def _plugin_graph() -> dict[str, set[str]]:
    """The imports among the plugins' modules (``aiida_firecrest.X``, not the demo server)."""
    graph = _graph()
    plugin = {module for module in graph if module.count('.') == 1 and module != 'aiida_firecrest.demo'}
    return {module: graph[module] & plugin for module in plugin}


def _layer(module: str) -> int:
    name = module.rpartition('.')[2]
    return next(index for index, layer in enumerate(LAYERS) if name in layer)


def test_the_plugins_have_no_import_cycle() -> None:
    assert _cycles(_plugin_graph()) == []


def test_every_plugin_module_has_a_layer() -> None:
    names = {module.rpartition('.')[2] for module in _plugin_graph()}
    assert names - {'__init__', 'aiida_firecrest'} == set().union(*LAYERS)


def test_plugin_modules_import_only_from_lower_layers() -> None:
    upward = sorted(
        f'{module} imports {imported}'
        for module, imports in _plugin_graph().items()
        if module != 'aiida_firecrest'
        for imported in imports
        if _layer(imported) >= _layer(module)
    )
    assert upward == []


def test_an_import_cycle_is_found() -> None:
    """The check itself: a cycle of three modules is reported, a chain is not."""
    assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [['a', 'b', 'c', 'a']]
    assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': set()}) == []


#: The most lines a plugin module may have: one job each, readable top to bottom.
LONGEST_MODULE = 500


def test_no_plugin_module_is_longer_than_the_limit() -> None:
    lengths = {path.name: len(path.read_text().splitlines()) for path in PACKAGE.glob('*.py')}
    assert {name: lines for name, lines in lengths.items() if lines > LONGEST_MODULE} == {}
