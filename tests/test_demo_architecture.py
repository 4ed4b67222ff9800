"""The demo server's structure: its modules import one another one way only, and the plugins never import it.

The demo (``aiida_firecrest.demo``) is a separate program that the tests and ``firecrest_demo.py`` run; the
plugins (``aiida_firecrest/*.py``) must work without it and its dependencies (the ``demo`` extra).
"""

from __future__ import annotations

from tests.test_architecture import PACKAGE, _cycles, _imports, _module_name

DEMO = PACKAGE / 'demo'
DEMO_PACKAGE = 'aiida_firecrest.demo'


def _demo_graph() -> dict[str, set[str]]:
    """The imports among the demo's modules, lazy ones included (``from . import x`` counts the package)."""
    graph = {_module_name(path): _imports(path) for path in DEMO.glob('*.py')}
    return {module: {name for name in imports if name in graph} for module, imports in graph.items()}


def test_the_demo_has_modules() -> None:
    """The check below sees the demo's modules (not an empty graph)."""
    graph = _demo_graph()
    assert {f'{DEMO_PACKAGE}.app', f'{DEMO_PACKAGE}.state', f'{DEMO_PACKAGE}.settings'} <= set(graph)
    assert f'{DEMO_PACKAGE}.state' in graph[f'{DEMO_PACKAGE}.app']


def test_the_demo_has_no_import_cycle() -> None:
    assert _cycles(_demo_graph()) == []


def test_the_demo_package_itself_imports_none_of_its_modules() -> None:
    """``from . import x`` counts as importing the package: its ``__init__`` must stay free of imports."""
    assert _demo_graph()[DEMO_PACKAGE] == set()


def test_no_plugin_module_imports_the_demo() -> None:
    importing = sorted(
        f'{_module_name(path)} imports {imported}'
        for path in PACKAGE.glob('*.py')
        for imported in _imports(path)
        if imported == DEMO_PACKAGE or imported.startswith(f'{DEMO_PACKAGE}.')
    )
    assert importing == []
