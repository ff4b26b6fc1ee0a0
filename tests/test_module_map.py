"""The README's module map is generated from the code; it must not drift."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_module_map_matches_the_package():
    out = subprocess.run([sys.executable, "scripts/module_map.py", "--check", "README.md"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    table = subprocess.run([sys.executable, "scripts/module_map.py"], cwd=ROOT, capture_output=True, text=True).stdout
    # every module of the package is listed
    for path in (ROOT / "vidsearch").rglob("*.py"):
        if path.name not in ("__init__.py", "__main__.py"):
            assert f"`{path.relative_to(ROOT).as_posix()}`" in table, path
