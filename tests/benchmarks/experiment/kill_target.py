"""The run that the SIGKILL/resume test kills: ``python kill_target.py INPUTS RUN_DIR``.

``INPUTS`` is a pickle of ``(config, endpoints, blocks)`` written by the test from its fixtures, so the
data builders live in one place (``tests/benchmarks/conftest.py``) and this script only runs the matrix.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path


def main(inputs: str, run_dir: str) -> None:
    from benchmarks.experiment.runner import run_matrix

    config, endpoints, blocks = pickle.loads(Path(inputs).read_bytes())
    run_matrix(config, endpoints, blocks, Path(run_dir), progress=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
