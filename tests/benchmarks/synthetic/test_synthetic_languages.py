"""French and structured synthetic reports: their share, their language, and the signal they carry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from benchmarks.cohort.language import detect_language
from benchmarks.synthetic import SyntheticConfig, build_tables
from benchmarks.synthetic.latent import sample_truth
from benchmarks.synthetic.report_writer import report_style, write_reports


def _styles(n: int, config: SyntheticConfig) -> pd.DataFrame:
    rows = []
    for i in range(n):
        for rtype, (lang, templated) in report_style(sample_truth(i, 0, config), config).items():
            rows.append({"i": i, "report_type": rtype, "language": lang, "templated": templated})
    return pd.DataFrame(rows)


def test_shares_follow_the_config():
    s = _styles(600, SyntheticConfig(write_images=False))
    assert 0.26 < (s.language == "fr").mean() < 0.34 and 0.16 < s.templated.mean() < 0.24
    s = _styles(200, SyntheticConfig(write_images=False, french_report_rate=1.0, templated_report_rate=0.0))
    assert (s.language == "fr").all() and not s.templated.any()
    with pytest.raises(ValueError, match="french_report_rate"):
        SyntheticConfig(french_report_rate=1.5)
    with pytest.raises(ValueError, match="templated_report_rate"):
        SyntheticConfig(templated_report_rate=-0.1)


def test_english_free_text_does_not_depend_on_the_other_styles():
    plain = SyntheticConfig(write_images=False, french_report_rate=0.0, templated_report_rate=0.0)
    mixed = SyntheticConfig(write_images=False)
    same = 0
    for i in range(60):
        t = sample_truth(i, 4, mixed)
        if all(v == ("en", False) for v in report_style(t, mixed).values()):
            assert write_reports(t, mixed) == write_reports(t, plain)
            same += 1
    assert same >= 10


def test_every_report_is_detected_in_its_language():
    config = SyntheticConfig(write_images=False, french_report_rate=0.5, templated_report_rate=0.5)
    seen = set()
    for i in range(120):
        t = sample_truth(i, 1, config)
        styles = report_style(t, config)
        for rtype, text in write_reports(t, config):
            assert detect_language(text) == styles[rtype][0], (i, rtype, styles[rtype])
            seen.add(styles[rtype])
    assert seen == {("en", False), ("en", True), ("fr", False), ("fr", True)}


def test_templated_reports_use_finding_value_lines():
    config = SyntheticConfig(write_images=False, french_report_rate=0.5, templated_report_rate=1.0)
    _, tables = build_tables(40, 2, config)
    text = "\n".join(tables["reports"]["text"])
    for line in ("Stricture: no", "Fistula / abscess: none", "Sténose : non", "Fistule / abcès : aucun"):
        assert line in text, line
    assert "Ulcers: none" in text or "ulcérations : aucune" in text


@pytest.mark.parametrize(
    "config",
    [
        SyntheticConfig(write_images=False, french_report_rate=1.0, templated_report_rate=0.0),
        SyntheticConfig(write_images=False, french_report_rate=0.0, templated_report_rate=1.0),
        SyntheticConfig(write_images=False, french_report_rate=1.0, templated_report_rate=1.0),
    ],
    ids=["french", "structured", "french-structured"],
)
def test_french_and_structured_reports_carry_the_signal(config):
    # current affirmed findings of inflammation, as the text features read them, follow the SES-CD
    from features.text import ReportConceptExtractor

    _, tables = build_tables(50, 5, config)
    ext = ReportConceptExtractor(words="none")
    ses = tables["patients"].set_index("patient_id")["ses_cd"]
    inflammation = ("C0041582", "CDB0001", "CDB0002", "CDB0004")  # ulcer, thickening, enhancement, oedema
    pids, active = [], []
    for pid, g in tables["reports"].groupby("patient_id"):
        inputs = ext.inputs(_Reports(g[["report_type", "text"]]), pid)
        f = ext.extract(inputs)
        pids.append(pid)
        active.append(sum(f.get(f"cnt__{cui}_affirmed", 0.0) for cui in inflammation))
    rho = spearmanr(np.asarray(active), ses.loc[pids].to_numpy()).statistic
    assert rho > 0.4, rho


class _Reports:
    """The one accessor of a cohort the text extractor uses."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)

    def reports(self, pid: str) -> pd.DataFrame:
        return self.frame
