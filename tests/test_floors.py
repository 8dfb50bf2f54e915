"""The floor plan (README "Development"): who may import whom.

core (ground) <- trainables, search_spaces, analysis <- study (the driver, on top).
Static rules read every import statement, function-level ones included; load-time rules
import the modules in a fresh interpreter and look at what came with them.
"""

import ast
import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROJECT = ("core", "study", "trainables", "search_spaces", "analysis", "bench")


def modules(package: str) -> list[str]:
    return sorted(f"{package}.{p.stem}" for p in (ROOT / package).glob("*.py")
                  if p.stem != "__main__")


def imported(package: str) -> dict[str, set[str]]:
    """Module -> every module name its import statements name (at any depth)."""
    out = {}
    for path in sorted((ROOT / package).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        out[f"{package}.{path.stem}"] = names
    return out


def loaded_with(names: list[str]) -> set[str]:
    """Top-level packages in sys.modules after importing ``names`` in a fresh interpreter."""
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(json.loads(proc.stdout))


def offenders(package: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {m: sorted(n for n in names if n.split(".")[0] in forbidden or n in forbidden)
             for m, names in imported(package).items()}
    return {m: names for m, names in found.items() if names}


def test_core_imports_nothing_of_the_project():
    assert offenders("core", tuple(p for p in PROJECT if p != "core")) == {}


def test_spaces_never_import_model_code():
    assert offenders("search_spaces", ("trainables", "study", "analysis", "torch")) == {}


def test_trainables_never_import_the_driver():
    assert offenders("trainables", ("study.run", "study.launch", "analysis", "bench")) == {}


def test_analysis_never_imports_the_driver_that_runs_studies():
    assert offenders("analysis", ("study.run", "study.launch", "bench")) == {}


@pytest.mark.parametrize(("packages", "absent"), [
    (["core", "search_spaces"], {"torch", "torchvision", "ray", "trainables"}),
    (["analysis"], {"torch", "torchvision", "ray"}),
])
def test_modules_load_without_torch_or_ray(packages, absent):
    names = [m for p in packages for m in modules(p)]
    assert not loaded_with(names) & absent
