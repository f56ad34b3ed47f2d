"""Shared fixtures for the text tests: a tiny fake cohort and example reports (synthetic, no real text)."""

from __future__ import annotations

import pandas as pd

MRE_ACTIVE = (
    "CLINICAL HISTORY: Known Crohn's disease, ?stricture.\n"
    "TECHNIQUE: MR enterography with intravenous contrast.\n"
    "FINDINGS: There is wall thickening of the terminal ileum over 15 cm with mural oedema and ulceration. "
    "No fistula or abscess. Possible stricture with prestenotic dilatation. Enlarged mesenteric lymph nodes.\n"
    "IMPRESSION: Active terminal ileitis. Fistula is excluded."
)
COLONOSCOPY_QUIET = (
    "Procedure: ileocolonoscopy. Findings: the TI was intubated and is normal. No ulcers in the colon. "
    "The rectum is normal. Conclusion: no endoscopic evidence of active Crohn's disease."
)


class FakeCohort:
    """Just enough of benchmarks.cohort.Cohort for the text extractors."""

    def __init__(self, reports: dict[str, list[tuple[str, str]]]) -> None:
        self._reports = reports
        self.patient_ids = sorted(reports)

    def reports(self, pid: str) -> pd.DataFrame:
        rows = self._reports.get(pid, [])
        return pd.DataFrame(rows, columns=["report_type", "text"])
