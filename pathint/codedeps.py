"""The code a stage's results depend on, found from the import graph, and its content hash.

A stage is entered through one function (``pathint.stages.run_train``, ...). Its code is that function's
source, the module-level functions of its own module it calls, every ``pathint`` module it refers to
(through names imported at module level or imports inside the function), and, transitively, every
``pathint`` module those import (anywhere in the module, inside functions too, except under
``if TYPE_CHECKING:``), with the packages' ``__init__`` files. A package that imports its modules by name
(a registry, as :mod:`pathint.readouts`) says so with ``LOADS_ALL_SUBMODULES = True`` in its ``__init__``,
and code that imports it then depends on all its modules. Editing any of those files reruns the stage and
what follows it; editing anything else does not.

Modules that only keep records about a result, never compute one, are left out (:data:`BOOKKEEPING`):
the provenance writer, this module, the stage runner and the Snakemake glue. Without that rule every
edit to how provenance is written would retrain every network.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pathint"

#: Modules that record or orchestrate results but never compute one; not part of any stage's code.
BOOKKEEPING = frozenset({"pathint.provenance", "pathint.codedeps", "pathint.packs", "pathint.workflow"})


def module_file(module: str, root: Path = ROOT) -> Path | None:
    """Source file of a ``pathint`` module or package (``__init__.py``), or None if there is none."""
    base = root.joinpath(*module.split("."))
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _is_package(module: str, root: Path) -> bool:
    return (root.joinpath(*module.split(".")) / "__init__.py").is_file()


def _resolve(module: str, level: int, name: str | None, root: Path) -> str:
    """Absolute module name of ``from <level dots><name> import ...`` inside ``module``."""
    if level == 0:
        return name or ""
    package = module if _is_package(module, root) else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{name}" if name else package


def _targets(module: str, node: ast.Import | ast.ImportFrom, root: Path) -> dict[str, str]:
    """Names bound by an import statement -> the ``pathint`` module each name refers to (or lives in)."""
    out: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == PACKAGE:
                out[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name
        return out
    base = _resolve(module, node.level, node.module, root)
    if base.split(".")[0] != PACKAGE:
        return out
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        out[alias.asname or alias.name] = sub if module_file(sub, root) else base
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of import nodes under ``if TYPE_CHECKING:`` (they never run)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else test.attr if isinstance(test, ast.Attribute) else ""
            if name == "TYPE_CHECKING":
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def _parsed(path: Path) -> ast.Module:
    st = path.stat()
    return _parse(path, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _parse(path: Path, mtime_ns: int, size: int) -> ast.Module:
    # keyed on the file's stat so that an edited file is parsed again within one process (tests edit code)
    return ast.parse(path.read_text(), filename=str(path))


def _imports(module: str, tree: ast.AST, root: Path) -> dict[str, str]:
    skip = _type_checking_nodes(tree)
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
            out.update(_targets(module, node, root))
    return out


def _with_packages(module: str) -> list[str]:
    """The module and the packages above it (``pathint.figures.fig4`` -> also ``pathint.figures``, ``pathint``)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def module_closure(modules: Iterable[str], root: Path = ROOT) -> set[str]:
    """Every ``pathint`` module reachable from ``modules`` by imports, bookkeeping modules excluded."""
    todo = [m for m in modules]
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        for m in _with_packages(mod):
            if m in seen or m in BOOKKEEPING:
                continue
            path = module_file(m, root)
            if path is None:
                continue
            seen.add(m)
            tree = _parsed(path)
            todo.extend(_imports(m, tree, root).values())
            if path.name == "__init__.py" and _loads_all_submodules(tree):
                todo.extend(f"{m}.{p.stem}" for p in path.parent.iterdir()
                            if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file())
    return seen


def _loads_all_submodules(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "LOADS_ALL_SUBMODULES" for t in targets):
                return isinstance(node.value, ast.Constant) and node.value.value is True
    return False


def _function_node(tree: ast.Module, name: str) -> ast.FunctionDef | ast.ClassDef:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
    raise KeyError(name)


def function_dependencies(module: str, function: str, root: Path = ROOT) -> tuple[set[str], set[str]]:
    """(functions of ``module`` used, as ``"path::name"``; ``pathint`` modules referred to) by ``function``.

    Follows calls to other module-level functions and classes of the same module.
    """
    path = module_file(module, root)
    if path is None:
        raise KeyError(f"no source for module {module!r}")
    tree = _parsed(path)
    top_imports: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top_imports.update(_targets(module, node, root))
    local = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    rel = path.relative_to(root).as_posix()
    functions: set[str] = set()
    modules: set[str] = set()
    todo = [function]
    while todo:
        name = todo.pop()
        if f"{rel}::{name}" in functions:
            continue
        functions.add(f"{rel}::{name}")
        node = _function_node(tree, name)
        modules.update(_imports(module, node, root).values())
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if sub.id in top_imports:
                    modules.add(top_imports[sub.id])
                elif sub.id in local and sub.id != name:
                    todo.append(sub.id)
    return functions, modules


def entry_files(entry: str, extra: Iterable[str] = (), modules: Iterable[str] = (), root: Path = ROOT) -> tuple[str, ...]:
    """Source references a stage entered at ``entry`` (``"pathint.stages:run_train"``) depends on.

    ``extra``: further files (the Snakemake entry script); ``modules``: modules the entry loads by name
    (no static import to follow), counted whole with their imports. Returns sorted ``path`` or
    ``path::function`` references, relative to the repository root, for :func:`code_hash`.
    """
    module, _, function = entry.partition(":")
    functions, used = function_dependencies(module, function, root)
    files = {module_file(m, root).relative_to(root).as_posix() for m in module_closure(used | set(modules), root)}
    own = module_file(module, root).relative_to(root).as_posix()
    files.discard(own)  # the entry's module counts only through the functions it uses
    return tuple(sorted(files | functions | set(extra)))


def _source(ref: str, root: Path) -> bytes:
    rel, _, func = ref.partition("::")
    p = root / rel
    if not p.exists():
        return b"<missing>"
    text = p.read_text()
    if not func:
        return text.encode()
    node = _function_node(_parsed(p), func)
    return (ast.get_source_segment(text, node) or "").encode()


def code_hash(files: Iterable[str], root: Path = ROOT) -> str:
    """sha1 over the contents (not the modification times) of ``files`` (``path`` or ``path::function``)."""
    h = hashlib.sha1()
    for ref in sorted(files):
        h.update(ref.encode() + b"\0" + _source(ref, root) + b"\0")
    return h.hexdigest()[:12]
