"""Tables: LaTeX escaping, booktabs output, bold best values, Table 1, availability, CSV beside LaTeX."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks.store import MODEL_KEYS
from reports import formatting as fmt
from reports import tables as T


def test_latex_escape_specials_and_unicode():
    assert fmt.latex_escape("imaging+text_pro 5% & #1") == r"imaging{+}text\_pro 5\% \& \#1"
    assert fmt.latex_escape("SES-CD ≥ 3, Δ") == r"SES-CD $\geq$ 3, $\Delta$"
    assert fmt.latex_escape("a<b>c~d^e{f}\\") == (
        r"a\textless{}b\textgreater{}c\textasciitilde{}d\textasciicircum{}e\{f\}\textbackslash{}"
    )
    # the output is ASCII: Latin letters keep their accents as T1 commands, other scripts are transliterated
    assert fmt.latex_escape("Zürich") == r"Z\"{u}rich"
    assert fmt.latex_escape("Łódź") == r"\L{}\'{o}d\'{z}"
    assert fmt.latex_escape("Ðakovo «Nord»") == r"\DH{}akovo \guillemotleft{}Nord\guillemotright{}"
    assert fmt.latex_escape("naïve q\u0303") == r"na\"{\i{}}ve \~{q}"  # i loses its dot; a combining mark
    assert fmt.latex_escape("Москва 北京") == "Moskva BeiJing"
    assert fmt.latex_escape("a\x00b\x07c\td\r\ne\u202ef") == "abc d  ef"  # control and bidi characters
    assert fmt.latex_escape(None) == "" and fmt.latex_escape(float("nan")) == ""


def test_markdown_escape_shows_user_strings_literally():
    md = fmt.markdown_escape
    assert md("<script>alert(1)</script>") == "&lt;script>alert(1)&lt;/script>"
    assert md("[x](javascript:alert(1))") == r"\[x\](javascript:alert(1))"
    assert md("<javascript:alert(1)>") == "&lt;javascript:alert(1)>" and md("<!-- x -->") == "&lt;!-- x -->"
    assert md("a|b *c* `d` ~e~ \\") == r"a\|b \*c\* \`d\` \~e\~ \\"
    assert md("&lt; & b") == "&amp;lt; & b"
    assert md("_x_ __y") == r"\_x\_ \_\_y"
    # what cannot open markup stays readable: p-values, comparisons, names with inner underscores
    assert md("p <0.001, SES-CD >= 3, late_mean, txt__cnt__w_h0001") == (
        "p <0.001, SES-CD >= 3, late_mean, txt__cnt__w_h0001"
    )
    assert md("one\nline\x00") == "one line"


def test_formatting_helpers():
    assert fmt.fmt_ci(0.81234, 0.7, 0.9) == "0.812 (0.700–0.900)"
    assert fmt.fmt_ci(np.nan, 0.1, 0.2) == "–"
    assert fmt.fmt_ci(0.5, np.nan, np.nan) == "0.500"
    assert fmt.fmt_ci(-0.05, -0.1, 0.02) == "-0.050 (-0.100 to 0.020)"
    assert fmt.fmt_interval(0.1, 0.2) == "0.100–0.200" and fmt.fmt_interval(np.nan, 0.2) == "–"
    assert fmt.fmt_p(0.0001) == "<0.001" and fmt.fmt_p(0.04567) == "0.046" and fmt.fmt_p(np.nan) == "–"
    assert fmt.fmt_num(None) == "–" and fmt.fmt_num(12.345, 1) == "12.3"


def _perf() -> pd.DataFrame:
    rows = [
        ("t", "imaging", "enet", "single", 0.71, 0.60, 0.80, 0.65, 0.60, 0.20),
        ("t", "imaging", "rf", "single", 0.74, 0.63, 0.83, 0.70, 0.66, 0.19),
        ("t", "imaging+text", "enet", "early", 0.83, 0.75, 0.90, 0.69, 0.72, 0.16),
        ("t", "imaging+text", "enet", "late_mean", 0.80, 0.71, 0.88, 0.72, 0.70, 0.17),
        ("other", "pro", "enet", "single", 0.99, 0.98, 1.0, 0.99, 0.99, 0.01),
    ]
    cols = [*MODEL_KEYS, "auc", "auc_low", "auc_high", "balanced_accuracy", "f1", "brier"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["n"] = 100
    return frame


def test_performance_table_bold_best_per_column_and_grouping():
    t = T.performance_table(_perf(), task="t", task_type="binary")
    assert len(t.display) == 4  # the other task is not mixed in
    assert list(t.display["Modality set"]) == ["imaging", "imaging", "imaging+text", "imaging+text"]
    bold = {c: t.display.loc[t.bold[c], c].tolist() for c in t.display.columns if t.bold[c].any()}
    assert bold == {
        "AUC (95% CI)": ["0.830 (0.750–0.900)"],
        "Bal. acc.": ["0.720"],
        "F1": ["0.720"],
        "Brier": ["0.160"],
    }
    tex = t.to_latex()
    for piece in (
        r"\begin{table}",
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
        r"\caption{",
        r"\label{tab:performance-t}",
    ):
        assert piece in tex
    assert r"\textbf{0.830 (0.750--0.900)}" in tex and r"\textbf{0.160}" in tex
    assert r"imaging{+}text" in tex and r"late\_mean" in tex
    assert tex.count(r"\midrule") == 2  # header rule + one between the two modality-set groups
    md = t.to_markdown()
    assert "**0.830 (0.750–0.900)**" in md and "| imaging+text |" in md


def test_table_save_writes_tex_md_csv(tmp_path):
    t = T.performance_table(_perf(), task="t", task_type="binary")
    paths = t.save(tmp_path)
    assert {p.suffix for p in paths.values()} == {".tex", ".md", ".csv"}
    back = pd.read_csv(paths["csv"])
    assert np.allclose(back["auc"], t.data["auc"]) and list(back["fusion"]) == list(t.data["fusion"])


def test_long_table_switches_to_longtable():
    n = T.LONG_TABLE_ROWS + 5
    frame = pd.DataFrame({"a": [f"x_{i}" for i in range(n)], "b": np.arange(n).astype(str)})
    t = T.Table("long", frame, frame, "Long one", "tab:long", notes=["50% done"])
    tex = t.to_latex()
    assert r"\begin{longtable}" in tex and r"\endhead" in tex and r"\begin{table}" not in tex
    assert r"50\% done" in tex and r"x\_44" in tex


def _cohort(n: int = 60, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    severity = rng.choice(["inactive", "mild", "moderate", "severe"], n).astype(object)
    severity[:5] = None  # five patients without the endpoint
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "sex": rng.choice(["M", "F"], n),
            "age": rng.normal(40, 10, n),
            "perianal": np.where(rng.random(n) < 0.1, np.nan, (rng.random(n) < 0.3).astype(float)),
            "crp": np.where(rng.random(n) < 0.2, np.nan, rng.gamma(2, 5, n)),
            "severity": severity,
            "avail_imaging": rng.random(n) < 0.7,
            "features_imaging": rng.random(n) < 0.6,  # the definition: not the file rows
            "avail_text": True,
            "features_text": True,
        }
    )


def test_cohort_table_counts_and_missing():
    cohort = _cohort()
    t = T.cohort_table(cohort)
    d = t.display
    assert list(d.columns) == [
        "Characteristic",
        "Level",
        "Overall",
        "inactive",
        "mild",
        "moderate",
        "severe",
        T.NO_ENDPOINT,
        "Missing (n)",
    ]
    # the class columns and the no-endpoint column partition the cohort
    n_row = d[d["Characteristic"] == "n"].iloc[0]
    assert int(n_row["Overall"]) == len(cohort)
    assert sum(int(n_row[c]) for c in ["inactive", "mild", "moderate", "severe", T.NO_ENDPOINT]) == len(
        cohort
    )
    assert int(n_row[T.NO_ENDPOINT]) == 5
    assert int(n_row["severe"]) == int((cohort["severity"] == "severe").sum())
    # continuous: median [IQR] and missing counted
    crp_row = d[d["Characteristic"].str.startswith("CRP")]
    assert crp_row["Missing (n)"].astype(int).iat[0] == int(cohort["crp"].isna().sum())
    assert "median [IQR]" in crp_row["Characteristic"].iat[0]
    # a binary 0/1 variable (stored as float with NaN) is one row, n (%) of the positive level
    peri = d[d["Characteristic"].str.startswith("Perianal")]
    assert len(peri) == 1 and peri["Level"].iat[0] == ""
    k, known = int((cohort["perianal"] == 1).sum()), int(cohort["perianal"].notna().sum())
    assert peri["Overall"].iat[0] == f"{k} ({100 * k / known:.1f})"
    assert peri["Missing (n)"].iat[0] == str(int(cohort["perianal"].isna().sum()))
    assert not d["Level"].isin(["0.0", "1.0", "True", "False"]).any()
    # modality rows read the one definition (features_), never the file rows (avail_)
    assert not d["Characteristic"].str.contains("avail_|features_").any()
    img = d[d["Characteristic"] == "Has imaging, n (%)"]
    assert img["Overall"].iat[0].startswith(f"{int(cohort['features_imaging'].sum())} (")
    # sex (two letters) stays a categorical variable with one row per level, counts summing to the known
    sex = d[d["Characteristic"].str.startswith("Sex")]
    assert list(sex["Level"]) == ["F", "M"]
    assert sum(int(v.split()[0]) for v in sex["Overall"]) == len(cohort)
    # the CSV is tidy: counts per column sum over the classes to the overall
    data = t.data
    counts = data[(data["variable"] == "has_imaging") & (data["statistic"] == "count")].set_index("column")[
        "n"
    ]
    assert counts.drop("Overall").sum() == counts["Overall"]
    assert r"\label{tab:cohort}" in t.to_latex()


def test_availability_patterns_and_counts():
    cohort = pd.DataFrame(
        {
            "patient_id": list("abcdef"),
            "severity": ["mild", "mild", "severe", "inactive", "mild", None],
            "avail_imaging": [True, True, False, True, False, True],
            "avail_text": [True, True, True, False, False, True],
            "avail_pro": [True, False, True, True, True, True],
        }
    )
    f = T.availability_frame(cohort, task_patients={"t": ["a", "b", "c"]})
    got = dict(zip(f["pattern"], f["n"], strict=True))
    assert got == {"imaging+text+pro": 2, "imaging+text": 1, "text+pro": 1, "imaging+pro": 1, "pro": 1}
    assert f["n"].sum() == 6 and np.isclose(f["percent"].sum(), 100)
    row = f[f["pattern"] == "imaging+text+pro"].iloc[0]
    assert row["mild"] == 1 and row[T.NO_ENDPOINT] == 1 and row["t (n)"] == 1
    assert f["t (n)"].sum() == 3
    t = T.availability_table(cohort)
    assert "imaging: 4" in t.notes[0] and r"imaging{+}text{+}pro" in t.to_latex()
    # with features_ columns, those (the definition) are read instead of the file rows
    lost = cohort.assign(features_imaging=[True, False, False, True, False, True], features_text=True,
                         features_pro=cohort["avail_pro"])  # fmt: skip
    assert "imaging: 3" in T.availability_table(lost).notes[0]
    assert T.modality_patterns(lost)["b"] == "text"


def test_comparison_table_shows_family_and_adjusted_p():
    summary = pd.DataFrame(
        {
            "task": ["t", "t"],
            "family": ["fusion_vs_best_unimodal", "top_pairs"],
            "model_a": ["a+b / early / enet", "x"],
            "model_b": ["a / single / enet", "y"],
            "n": [100, 100],
            "delta_auc": [0.05, -0.01],
            "ci_low": [0.01, -0.05],
            "ci_high": [0.09, 0.03],
            "boot_ci_low": [0.012, np.nan],
            "boot_ci_high": [0.088, np.nan],
            "p_value": [0.01, 0.6],
            "p_adjusted": [0.02, 0.6],
            "adjust_method": ["holm", "holm"],
            "test": ["DeLong", "DeLong"],
        }
    )
    t = T.comparison_table(summary, task="t")
    tex = t.to_latex()
    assert "Fusion vs best unimodal" in tex and r"\textbf{0.020}" in tex and "holm" in tex
    assert list(t.display["p adj."]) == ["0.020", "0.600"]
    assert t.display["Bootstrap 95% CI"].tolist() == ["0.012–0.088", "–"]


def test_failed_cells_table_groups_by_model():
    cells = pd.DataFrame(
        {
            "task": ["t"] * 5,
            "modality_set": ["a", "a", "a", "b", "c"],
            "estimator": ["enet"] * 5,
            "fusion": ["single"] * 5,
            "repeat": [0, 1, 1, 0, 0],
            "fold": [2, 3, 0, 0, 0],
            "status": ["failed", "failed", "ok", "ok", "failed"],
            "error": [
                "MemoryError: x\nTraceback (most recent call last)",
                "MemoryError: x",
                None,
                None,
                "E: y",
            ],
        }
    )
    t = T.failed_cells_table(cells)
    assert list(t.data["modality_set"]) == ["a", "c"] and list(t.data["n_failed"]) == [2, 1]
    assert list(t.data["where"]) == ["r0/f2, r1/f3", "all 1"]
    assert t.data["error"].iat[0] == "MemoryError: x"  # first line only, once


@pytest.mark.parametrize("value", ["0.812 (0.700–0.900)", "12", "<0.001", "–"])
def test_numeric_looking_cells_are_right_aligned(value):
    assert T._numeric_looking(value)
