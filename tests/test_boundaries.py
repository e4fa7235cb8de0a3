"""The add-on and the local Jira site are separate systems: neither imports the other."""

import ast
from pathlib import Path

import pytest

ROOT_DIR = Path(__file__).resolve().parent.parent


def imported_top_packages(package_dir):
    found = set()
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((alias.name.split(".")[0], path) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((node.module.split(".")[0], path))
    return found


@pytest.mark.parametrize(("package", "forbidden"), [("addon", "devsite"), ("devsite", "addon")])
def test_package_never_imports_other(package, forbidden):
    offenders = sorted(
        str(path.relative_to(ROOT_DIR))
        for name, path in imported_top_packages(ROOT_DIR / package)
        if name == forbidden
    )
    assert offenders == [], f"{package}/ imports {forbidden}: {offenders}"


def test_addon_process_never_loads_devsite():
    import subprocess
    import sys

    code = "import sys, app; print(any(m == 'devsite' or m.startswith('devsite.') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT_DIR, capture_output=True, text=True, timeout=60,
        env={"ADDON_ENV": "test", "ADDON_SECRET_KEY": "boundary-test-secret-key",
             "DATABASE_URL": "sqlite://", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
