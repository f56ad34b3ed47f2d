#!/usr/bin/env bash
# One command that installs everything cdbench needs on a fresh machine (Debian/Ubuntu with Python >= 3.11).
set -euo pipefail
cd "$(dirname "$0")/.."

# TeX for report.pdf (optional: without it the LaTeX sources are still written). Needs root and apt.
# lmodern (9.5 MB): vector Latin Modern fonts for report.tex's T1 encoding (else TeX draws bitmap fonts).
if ! command -v pdflatex >/dev/null 2>&1 || ! kpsewhich lmodern.sty >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      texlive-latex-base texlive-latex-recommended lmodern >/dev/null) \
      || echo "setup: warning: could not install TeX; report.pdf will be skipped" >&2
  else
    echo "setup: pdflatex or lmodern not found and cannot apt-get install them; report.pdf may be skipped" >&2
  fi
fi

# torch==2.13.0 is the CPU wheel; xgboost-cpu avoids the CUDA/NCCL download of plain xgboost.
python -m pip install -e ".[dev]"

# OpenCV (opencv-python, pulled by rt-utils; fills RTSTRUCT contours) needs libGL and GLib, absent from
# slim images. Only when `import cv2` fails. Needs root and apt.
if ! python -c "import cv2" >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libgl1 libglib2.0-0 >/dev/null) \
      || echo "setup: warning: could not install libgl1/libglib2.0-0; RTSTRUCT masks cannot be read" >&2
  else
    echo "setup: 'import cv2' fails and apt-get is not usable: install libgl1 and libglib2.0-0 for RTSTRUCT masks" >&2
  fi
fi
python scripts/install_import_guard.py
python -c "import benchmarks, features, models, reports; print('cdbench installed:', benchmarks.__file__)"
