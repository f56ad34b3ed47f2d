"""The test suite; its folders mirror the packages (benchmarks/, features/, models/, reports/).

Shared builders are fixtures in the ``conftest.py`` files. The two paths below are the only plain
constants, for tests that need them at import time (to parametrise over committed reference data).
"""

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
DATA_DIR = TESTS_DIR / "data"
