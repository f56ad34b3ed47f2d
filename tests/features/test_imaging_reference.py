"""Reproduce pyradiomics' published baseline feature values on real MR cases (brain1, breast1).

Reference data: ``tests/data/radiomics`` (see its README: copied from the pyradiomics 3.1.0 sdist). Each
baseline column records the settings it was made with; we extract with exactly those settings through
``RadiomicsExtractor`` (so through cdbench's reading, geometry checks, normalisation, cropping and
resampling path) and compare with the reference value.

Tolerance: relative 1e-6 (observed agreement is 1e-12 or better, the baseline values being printed with
12 significant digits). One documented exception: in the ``brain1`` column of the shape baseline the four
mesh-based features (MeshVolume, SurfaceArea, SurfaceVolumeRatio, Sphericity) differ by up to 9.2e-4
relative, for plain pyradiomics 3.1.4 as much as for the cropped extraction; that column predates a
change of pyradiomics' marching-cubes mesh (its other columns, made later, agree to 1e-12). They are
held to the 1.5e-3 that covers it (pyradiomics' own test suite allows 3%).
"""

from __future__ import annotations

import ast
import csv
import math

import pytest

from features.imaging import RadiomicsExtractor
from tests import DATA_DIR

DATA = DATA_DIR / "radiomics"
CASES = ("brain1", "breast1")
RTOL = 1e-6
MESH_RTOL = 1.5e-3
MESH_FEATURES = {"MeshVolume", "SurfaceArea", "SurfaceVolumeRatio", "Sphericity"}


def _baseline_columns() -> list[tuple[str, dict, dict]]:
    """(column, config, {feature: reference}) per baseline column of the committed cases.

    Columns of the same name and settings in several class files are merged, so one extraction serves
    all the feature classes that share a configuration.
    """
    merged: dict[tuple[str, str, str], tuple[dict, dict]] = {}
    for path in sorted((DATA / "baseline").glob("baseline_*.csv")):
        cls = path.stem[len("baseline_") :]
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        columns = rows[0][1:]
        table = {r[0]: r[1:] for r in rows[1:]}
        for i, column in enumerate(columns):
            case = table["diagnostics_Configuration_TestCase"][i]
            if case not in CASES:
                continue
            settings = table["diagnostics_Configuration_Settings"][i]
            types = table["diagnostics_Configuration_EnabledImageTypes"][i]
            config, ref = merged.setdefault(
                (column, settings, types),
                (
                    {
                        "case": case,
                        "setting": ast.literal_eval(settings),
                        "imageType": ast.literal_eval(types),
                        "classes": [],
                    },
                    {},
                ),
            )
            config["classes"].append(cls)
            ref.update(
                {k: float(v[i]) for k, v in table.items() if not k.startswith("diagnostics_") and v[i] != ""}
            )
    return [(column, config, ref) for (column, _, _), (config, ref) in sorted(merged.items())]


BASELINES = _baseline_columns()


def test_reference_data_present():
    classes = {cls for _, config, _ in BASELINES for cls in config["classes"]}
    assert classes == {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}
    assert sum(len(ref) for *_, ref in BASELINES) > 1000  # 2 cases x 7 configurations x all features


@pytest.mark.parametrize(("column", "config", "ref"), BASELINES, ids=[b[0] for b in BASELINES])
def test_matches_pyradiomics_baseline(column, config, ref):
    params = {
        "imageType": config["imageType"],
        "featureClass": {cls: [] for cls in config["classes"]},
        "setting": config["setting"],
    }
    case = config["case"]
    aggregated = RadiomicsExtractor(params=params).extract_case(
        DATA / f"{case}_image.nrrd", DATA / f"{case}_label.nrrd"
    )
    assert aggregated["n_regions"] == 1  # one region (label 1): its weighted mean is its value
    feats = {k[len("wmean__") :]: v for k, v in aggregated.items() if k.startswith("wmean__")}
    assert set(ref) <= set(feats), sorted(set(ref) - set(feats))
    bad = []
    for key, expected in ref.items():
        cls, name = key.split("_")[1], key.split("_")[-1]
        rtol = MESH_RTOL if (cls == "shape" and column == "brain1" and name in MESH_FEATURES) else RTOL
        if not math.isclose(feats[key], expected, rel_tol=rtol, abs_tol=1e-12):
            bad.append((key, feats[key], expected))
    assert not bad, bad
