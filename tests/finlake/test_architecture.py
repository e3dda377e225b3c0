"""The import contract in pyproject.toml ([tool.importlinter]): each layer imports only the
layers below it, and no package's modules import each other in a cycle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "lake", "connectors", "quality", "pipelines", "assets", "jobs", "dashboard",
            "finlake")


def lint_imports(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
                          cwd=where, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin"})


def test_imports_run_downhill_and_have_no_cycles() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout, result.stdout


def _copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.csv", "*.txt", "suites"))
    return tmp_path


def test_an_uphill_import_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    with (root / "lake" / "tables.py").open("a") as f:
        f.write("\nfrom pipelines import gold  # noqa: E402 - planted\n")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout
    assert "lake.tables -> pipelines.gold" in result.stdout, result.stdout


def test_a_domain_importing_a_later_one_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    with (root / "pipelines" / "gold" / "spend.py").open("a") as f:
        f.write("\nfrom pipelines.corrections import release  # noqa: E402 - planted\n")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout
    assert "pipelines.gold.spend -> pipelines.corrections.release" in result.stdout, result.stdout


def test_a_cycle_breaks_the_contract(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    with (root / "lake" / "months_probe.py").open("w") as f:
        f.write("from lake import tables  # planted\n")
    with (root / "lake" / "lake.py").open("a") as f:
        f.write("\nfrom lake import months_probe  # noqa: E402 - planted\n")
    with (root / "lake" / "tables.py").open("a") as f:
        f.write("\nfrom lake import lake  # noqa: E402 - planted\n")
    result = lint_imports(root)
    assert result.returncode == 1, result.stdout
    assert "No cycles are allowed in lake" in result.stdout, result.stdout
