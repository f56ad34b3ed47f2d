"""A patient's reports: the language and style of each (``report_style``), then the renderer that fits.

Above the renderers (:mod:`~benchmarks.synthetic.reports` with the English bank,
:mod:`~benchmarks.synthetic.reports_fr`, :mod:`~benchmarks.synthetic.reports_templated`, and the CTE wording of
:mod:`~benchmarks.synthetic.reports_ct`), so they need not know of one another.
"""

from __future__ import annotations

from benchmarks.synthetic.config import SyntheticConfig
from benchmarks.synthetic.latent import STREAM_REPORT, PatientTruth
from benchmarks.synthetic.reports import (
    EN,
    Phrases,
    _perceive_mri,
    _perceive_ses,
    _Writer,
    colonoscopy_report,
    mre_report,
    report_style,
)
from benchmarks.synthetic.reports_ct import ct_phrases
from benchmarks.synthetic.reports_fr import FR
from benchmarks.synthetic.reports_templated import colonoscopy_form, mre_form

PHRASES: dict[str, Phrases] = {"en": EN, "fr": FR}


def phrases(language: str) -> Phrases:
    """The phrase bank of ``language`` ("en" or "fr"; anything else is English, as before)."""
    return PHRASES.get(language, EN)


IMAGING_REPORT_TYPES: dict[str, str] = {"MR": "mre", "CT": "cte"}
"""The ``report_type`` of the report of a scan of each image modality."""


def write_reports(
    truth: PatientTruth,
    config: SyntheticConfig,
    imaging: tuple[str, ...] = ("MR",),
    colonoscopy: bool = True,
) -> list[tuple[str, str]]:
    """The patient's reports at this visit as (report_type, text): one imaging report per image modality
    in ``imaging`` ("mre" for MR, "cte" for CT, from the same perceived findings) and, when
    ``colonoscopy``, the colonoscopy report. A CTE report is always free text."""
    rng = truth.rng(STREAM_REPORT)
    style = config.active_sites[truth.site].reader_style
    w = _Writer(rng, style)
    styles = report_style(truth, config)
    (mre_lang, mre_templated), (colon_lang, colon_templated) = styles["mre"], styles["colonoscopy"]
    per_mri = _perceive_mri(truth, config, w)
    out: list[tuple[str, str]] = []
    for modality in imaging:
        if modality == "CT":
            out.append(("cte", mre_report(truth, config, w, per_mri, ct_phrases(mre_lang))))
        else:
            write_mre = mre_form if mre_templated else mre_report
            out.append(("mre", write_mre(truth, config, w, per_mri, phrases(mre_lang))))
    if colonoscopy:
        per_ses = _perceive_ses(truth, config, w)
        write_colon = colonoscopy_form if colon_templated else colonoscopy_report
        out.append(("colonoscopy", write_colon(truth, config, w, per_ses, phrases(colon_lang))))
    return out
