"""The layout's rules (ARCHITECTURE.md), checked on every module's imports, and two costs the
layout removed: the OASIS path loads no PyTorch, and `calspike run` computes each feature
stack once."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import calspike

PACKAGE = Path(calspike.__file__).parent
FOUNDATION = (
    "calspike._approvals",
    "calspike._io",
    "calspike._inputs",
    "calspike._targets",
    "calspike._version",
    "calspike.errors",
    "calspike.config",
    "calspike.data",
    "calspike.preprocess",
    "calspike.windows",
    "calspike.feature_stacks",
    "calspike.models",
    "calspike.training",
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports(path: Path, resolve: bool = False) -> set[str]:
    """Every calspike module `path` imports, at any depth of the file (TYPE_CHECKING blocks left
    out). With `resolve`, `from calspike.x import y` names calspike.x.y (a module or a name)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If)
        and isinstance(block.test, ast.Name)
        and block.test.id == "TYPE_CHECKING"
        for node in ast.walk(block)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {
                f"{node.module}.{alias.name}"
                if node.module == "calspike" or resolve
                else node.module
                for alias in node.names
            }
    return {name for name in names if name == "calspike" or name.startswith("calspike.")}


def _within(module: str, layers: tuple[str, ...]) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_the_layers_import_only_downwards(module):
    imports = _imports(MODULES[module])
    if _within(module, FOUNDATION):
        above = [
            name
            for name in imports
            if _within(name, ("calspike.tutorial", "calspike.spikes", "calspike.cli"))
        ]
        assert not above, f"{module} (the foundation) imports {above}"
    if _within(module, ("calspike.tutorial",)):
        assert not [
            name for name in imports if _within(name, ("calspike.spikes", "calspike.cli"))
        ], module
    if _within(module, ("calspike.spikes",)):
        assert not [
            name for name in imports if _within(name, ("calspike.tutorial", "calspike.cli"))
        ], module


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_the_package_face(module):
    submodules = {name.split(".")[1] for name in MODULES if name.count(".") >= 1} | {"_core"}
    face = [
        name
        for name in _imports(MODULES[module])
        if name == "calspike" or (name.count(".") == 1 and name.split(".")[1] not in submodules)
    ]
    assert not face, f"{module} imports {face} from the package face"


def _formatted_lines(path: Path) -> int:
    """Lines of `path` as `ruff format` writes it (with the project's settings); when ruff is not
    installed, its lines as they are (CI's `ruff format --check` keeps the two equal)."""
    ruff = shutil.which("ruff")
    if ruff is None:
        return len(path.read_text().splitlines())
    done = subprocess.run(
        [ruff, "format", "--stdin-filename", str(path), "-"],
        input=path.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return len(done.stdout.splitlines())


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_passes_400_formatted_lines(module):
    lines = _formatted_lines(MODULES[module])
    assert lines <= 400, f"{module} has {lines} lines once formatted: split it by concern"


def _module_graph() -> dict[str, set[str]]:
    """Each module's imports of other calspike modules (a package stands for its __init__)."""
    graph = {}
    for module, path in MODULES.items():
        named = set()
        for name in _imports(path, resolve=True):
            while name not in MODULES:  # an attribute of a module: `from calspike.x import f`
                name = name.rpartition(".")[0]
            named.add(name)
        graph[module] = named - {module}
    return graph


def test_no_import_cycle_between_modules():
    graph = _module_graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(graph[module]):
            if state.get(name) == 1:
                cycles.append(" -> ".join([*path[path.index(name) :], name]))
            elif name not in state:
                visit(name, [*path, name])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_no_private_name_is_imported_from_another_module():
    borrowed = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("calspike")
            ):
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                named = f"{node.module}.{alias.name}"
                if private and named not in MODULES and named != "calspike._core":
                    borrowed.append(f"{module} imports {alias.name} from {node.module}")
    assert not borrowed, "; ".join(borrowed)


def test_the_oasis_path_loads_no_pytorch(tmp_path):
    np.save(tmp_path / "traces.npy", calspike.simulate(3, 2_000, 30.0, seed=0).calcium)
    script = (
        f"import sys; from calspike.cli import main; "
        f"code = main(['infer', r'{tmp_path / 'traces.npy'}', '-o', r'{tmp_path / 'out.npy'}', "
        "'--rate', '30', '--method', 'oasis']); print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout.split()[-2:] == ["0", "False"], done.stdout + done.stderr


def test_run_computes_each_feature_stack_once(tmp_path, monkeypatch):
    from calspike import _core

    calls = []
    real = _core.features

    def counting(windows, kinds, threads):
        calls.append((windows.__array_interface__["data"][0], windows.shape, tuple(kinds)))
        return real(windows, kinds, threads)

    monkeypatch.setattr(_core, "features", counting)
    calspike.run(
        out=tmp_path / "report",
        quick=True,
        epochs=1,
        vae_epochs=1,
        toy_epochs=1,
        max_windows=1000,
        progress=False,
        log=None,
    )
    assert len(calls) == len(set(calls)), f"a feature stack computed twice: {calls}"
    # the classifier's train, val and test; the calcium VAE's train, val, test and SVM windows;
    # the same four centred, for the conditional VAE
    assert len(calls) <= 11, calls


def test_the_package_face_lists_and_resolves_only_its_public_names():
    import calspike

    listed = set(dir(calspike))
    assert set(calspike.__all__) <= listed
    assert not {name for name in listed if name.startswith("_")} - {"__version__"}
    assert not {"sys", "TYPE_CHECKING", "lazy_loader"} & listed
    assert all(getattr(calspike, name) is not None for name in calspike.__all__)  # each resolves
    import calspike.feature_stacks as stacks_module

    assert callable(calspike.features) and type(stacks_module).__name__ == "module"


def test_the_public_names_are_declared_once_in_the_stub():
    """__init__.pyi declares each public name (what type checkers read, and what the package
    loads lazily); __init__.py repeats none of them."""
    stub = ast.parse((PACKAGE / "__init__.pyi").read_text())
    declared = {
        alias.asname or alias.name
        for node in stub.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    } | {node.name for node in stub.body if isinstance(node, ast.FunctionDef)}
    assert set(calspike.__all__) == declared
    face = (PACKAGE / "__init__.py").read_text()
    assert not [name for name in declared - {"build_info", "__version__"} if f'"{name}"' in face]


def test_every_calspike_warning_can_be_filtered_as_one():
    import warnings

    import calspike

    kinds = [getattr(calspike, name) for name in calspike.__all__ if name.endswith("Warning")]
    assert len(kinds) >= 5 and all(issubclass(kind, calspike.CalspikeWarning) for kind in kinds)
    with warnings.catch_warnings(), pytest.raises(calspike.NoiseWarning):
        warnings.simplefilter("error", calspike.CalspikeWarning)
        warnings.warn("noise outside the trained range", calspike.NoiseWarning, stacklevel=1)
    from calspike._io import UsageError
    from calspike.data.recording import DataError

    assert UsageError is calspike.UsageError and DataError is calspike.DataError  # one class each


def test_every_warning_calspike_gives_is_a_calspike_warning():
    """Each warnings.warn call in the package names a category, and none of Python's own."""
    plain = {"UserWarning", "RuntimeWarning", "DeprecationWarning", "FutureWarning", "Warning"}
    found = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "warn"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "warnings"
            ):
                category = (
                    node.args[1]
                    if len(node.args) > 1
                    else next((k.value for k in node.keywords if k.arg == "category"), None)
                )
                name = (
                    category.id
                    if isinstance(category, ast.Name)
                    else getattr(category, "attr", None)
                )
                if name is None or name in plain:
                    found.append(f"{module}:{node.lineno}")
    assert not found, f"warnings without a CalspikeWarning category: {found}"
