"""The package layers of shared/DESIGN.md, checked on the source: an import only points down, and no two
modules import each other (imports inside functions count too)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
#: What each package may import from the project (schemas ← lake ← pipelines ← the packages that use them).
ALLOWED = {
    "schemas": set(),
    "lake": {"schemas"},
    "pipelines": {"schemas", "lake"},
    "glue": {"schemas", "lake"},
    "report_app": {"schemas", "lake", "pipelines"},
    "dagster_project": {"schemas", "lake", "pipelines", "glue", "report_app"},
    "tickerlake_cli": {"schemas", "lake", "pipelines", "glue", "report_app", "dagster_project"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[0] not in ALLOWED:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imports() -> dict[str, set[str]]:
    modules = _modules()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import submodule` imports the submodule, not the package's own code
                subs = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t for t in subs if t in modules]
                if len(targets) < len(subs):
                    targets.append(node.module)
            else:
                continue
            edges[name].update(t for t in targets if t in modules and t != name)
    return edges


def test_imports_only_point_down_the_layers():
    wrong = [
        f"{module} imports {target}"
        for module, targets in _imports().items()
        for target in targets
        if target.split(".")[0] != module.split(".")[0]
        and target.split(".")[0] not in ALLOWED[module.split(".")[0]]
    ]
    assert wrong == []


def test_no_two_modules_import_each_other():
    edges = _imports()
    pairs = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if a in edges[b]})
    assert pairs == []


def test_the_lake_never_imports_dagster_or_the_pipelines():
    for module, path in _modules().items():
        if module.split(".")[0] in ("lake", "schemas", "pipelines"):
            text = path.read_text()
            assert "import dagster" not in text and "from dagster" not in text, module
