"""Make this checkout's top-level packages win over same-named foreign packages, from any directory.

scispacy depends on ``pysbd``, whose wheel installs a stray top-level package called ``benchmarks`` into
site-packages. An editable install of cdbench is found *after* site-packages, so ``import benchmarks``
would load pysbd's package. This script writes a ``.pth`` file that puts a small finder at the front of
``sys.meta_path``; it resolves only cdbench's own top-level names, and only to this checkout.
Run by ``scripts/setup.sh`` after ``pip install -e``; rerunning it is harmless.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

PACKAGES = ("benchmarks", "features", "models", "reports")
PTH_NAME = "cdbench_import_guard.pth"

FINDER = """
import sys, importlib.machinery
class CdbenchImportGuard:
    root = {root!r}
    names = frozenset({names!r})
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name in cls.names:
            return importlib.machinery.PathFinder.find_spec(name, [cls.root])
        return None
if not any(getattr(f, "__name__", "") == "CdbenchImportGuard" for f in sys.meta_path):
    sys.meta_path.insert(0, CdbenchImportGuard)
"""


def main() -> None:
    root = str(Path(__file__).resolve().parents[1])
    code = FINDER.format(root=root, names=PACKAGES)
    target = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
    target.write_text(
        f'import sys; exec({code!r}, {{"__name__": "cdbench_import_guard"}})\n', encoding="utf-8"
    )
    print(f"import guard: {target} -> {root}")


if __name__ == "__main__":
    main()
