"""Which row a patient's data comes from when a table has several: the selection rules.

A patient may have several scans (a baseline and a follow-up MR, an MR and a CT), several reports and
several questionnaires. The candidates are grouped, and one row of each group is kept:

- imaging: per patient and image modality (``modality`` column): a patient with an MR and a CT keeps
  one of each;
- text: per patient and ``report_type`` (rule ``"all"``, the default, keeps every report: the text
  features pool them);
- pro: per patient.

Rules (``RULES``; ``"all"`` for text only):

- ``"closest"``: the candidate whose ``date`` is nearest the patient's ``endpoint_date`` (patients.csv),
  before or after; a tie between one before and one after goes to the earlier. It needs a date on every
  candidate of the group and the patient's endpoint_date; without them the rule falls back to
  ``"baseline"``, and the patient is listed with the reason (``fallback`` column).
- ``"baseline"``: the earliest date; else (not every candidate dated) the lowest ``timepoint``; else the
  first row in file order (a fallback, listed).
- ``"latest"``: the latest date; else the highest timepoint; else the last row in file order (listed).
- ``"all"``: every row kept.

A group's candidates are ordered by date only when every one has a date, else by timepoint when every
one has a timepoint, else by file order (read as chronological); identical dates or timepoints are
broken by file order the same way. Defaults (``DEFAULT_SELECTION``): imaging ``"closest"``, text
``"all"`` (as before dates existed, so text results do not move), pro ``"closest"``.

What was kept and why is the ``Selection``: one row per kept row (``SELECTION_COLUMNS``), the lines the
validation report prints and the counts provenance records.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from benchmarks.cohort import schema
from benchmarks.cohort.problems import UserError
from benchmarks.cohort.tables import SOURCE_ROW
from benchmarks.cohort.visits import days_between

RULES = ("closest", "baseline", "latest")
POOL = "all"
MODALITY_RULES: dict[str, tuple[str, ...]] = {"imaging": RULES, "text": (*RULES, POOL), "pro": RULES}
"""The rules each modality accepts."""
DEFAULT_SELECTION: dict[str, str] = {"imaging": "closest", "text": POOL, "pro": "closest"}
GROUP_COLUMNS: dict[str, str | None] = {
    "imaging": schema.IMAGE_MODALITY_COLUMN,
    "text": schema.REPORT_TYPE_COLUMN,
    "pro": None,
}
"""The column that splits a patient's rows into groups of candidates (None: one group per patient)."""
CANDIDATES = {
    "imaging": "scans of one image modality",
    "text": "reports of one type",
    "pro": "questionnaires",
}

SELECTION_COLUMNS = (
    schema.PATIENT_ID,
    "modality",  # imaging | text | pro
    "group",  # the image modality (MR, CT), the report type, or "" for pro
    SOURCE_ROW,  # the data row of the kept row in its CSV file
    schema.DATE_COLUMN,
    schema.TIMEPOINT_COLUMN,
    "n_candidates",  # rows of the group
    "rule",  # the configured rule
    "applied",  # the rule that decided (closest falls back to baseline)
    "by",  # what ordered the candidates: date | timepoint | file order ("" for one candidate or "all")
    "fallback",  # why the configured rule could not decide as documented ("" when it could)
)
"""Columns of ``Selection.table`` (the run folder's selection table)."""

NO_ENDPOINT_DATE = f"no {schema.ENDPOINT_DATE_COLUMN} in {schema.PATIENTS_FILE}"
UNDATED = "not every candidate has a date"
UNORDERED = "no date or timepoint on every candidate: file order"


class SelectionError(UserError, ValueError):
    """A selection setting that names an unknown rule or modality; says what to choose from."""


def selection_rules(value: str | Mapping[str, str] | None, key: str = "selection") -> dict[str, str]:
    """Every modality's rule (``schema.MODALITIES`` order) from a rule name (every modality), a mapping
    of modality to rule (the others keep ``DEFAULT_SELECTION``) or None (the defaults)."""
    if value is None:
        return dict(DEFAULT_SELECTION)
    if isinstance(value, str):
        if value == POOL:
            raise SelectionError(
                f"{key} = {value!r}: {POOL!r} applies to text only (every report pooled); give a table, "
                f'e.g. {key} = {{imaging = "closest", text = "all", pro = "closest"}}, or one of {list(RULES)}'
            )
        if value not in RULES:
            raise SelectionError(f"{key} = {value!r}: unknown rule; choose from {list(RULES)}")
        return {m: value for m in schema.MODALITIES}
    if not isinstance(value, Mapping):
        raise SelectionError(
            f"{key} must be a rule name {list(RULES)} or a table of modality = rule "
            f"(modalities {list(schema.MODALITIES)}), got {value!r}"
        )
    rules = dict(DEFAULT_SELECTION)
    for modality, rule in value.items():
        if modality not in MODALITY_RULES:
            raise SelectionError(f"{key}.{modality}: unknown modality; choose from {list(schema.MODALITIES)}")
        if rule not in MODALITY_RULES[modality]:
            raise SelectionError(
                f"{key}.{modality} = {rule!r}: unknown rule for {modality}; "
                f"choose from {list(MODALITY_RULES[modality])}"
            )
        rules[modality] = rule
    return {m: rules[m] for m in schema.MODALITIES}


@dataclass(frozen=True)
class _Candidate:
    pos: int  # position in the frame (file order)
    date: str | None
    timepoint: int | None


def _choose(cands: list[_Candidate], rule: str, endpoint: str | None) -> tuple[int, str, str, str]:
    """(index of the kept candidate, rule applied, what ordered the candidates, fallback reason)."""
    n = len(cands)
    if n == 1:
        return 0, rule, "", ""
    if all(c.date is not None for c in cands):
        by = "date"
        value: list[Any] = [c.date for c in cands]
    elif all(c.timepoint is not None for c in cands):
        by, value = "timepoint", [c.timepoint for c in cands]
    else:
        by, value = "file order", list(range(n))
    applied, fallback = rule, ""
    if rule == "closest":
        if by == "date" and endpoint is not None:
            distance = [abs(days_between(endpoint, d)) for d in value]
            return min(range(n), key=lambda i: (distance[i], value[i], i)), rule, by, ""
        applied, fallback = "baseline", (NO_ENDPOINT_DATE if by == "date" else UNDATED)
    elif by == "file order":
        fallback = UNORDERED
    if applied == "baseline":
        return min(range(n), key=lambda i: (value[i], i)), applied, by, fallback
    return max(range(n), key=lambda i: (value[i], i)), applied, by, fallback


def _cell(frame: pd.DataFrame, col: str) -> list[Any]:
    if col not in frame.columns:
        return [None] * len(frame)
    return [None if pd.isna(v) else v for v in frame[col]]


def select_rows(
    frame: pd.DataFrame, modality: str, rule: str, endpoint_dates: Mapping[str, str | None]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The kept rows of one modality's table (file order kept, index reset) and their records
    (``SELECTION_COLUMNS``). ``frame`` has ``patient_id`` and ``source_row`` columns, optionally
    ``date`` (ISO text) and ``timepoint`` (int)."""
    group_col = GROUP_COLUMNS[modality]
    pids = [str(p) for p in frame[schema.PATIENT_ID]]
    groups = [""] * len(pids)
    if group_col:  # image modalities as the extractors compare them (upper case)
        fold = str.upper if modality == "imaging" else str
        groups = ["" if v is None else fold(str(v)) for v in _cell(frame, group_col)]
    dates, tps, rows = (
        _cell(frame, schema.DATE_COLUMN),
        _cell(frame, schema.TIMEPOINT_COLUMN),
        _cell(frame, SOURCE_ROW),
    )
    members: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(pids, groups, strict=True)):
        members.setdefault(key, []).append(i)
    kept: list[tuple[int, int, str, str, str]] = []  # (position, n_candidates, applied, by, fallback)
    for (pid, _), idx in members.items():
        if rule == POOL:
            kept.extend((i, len(idx), POOL, "", "") for i in idx)
            continue
        cands = [_Candidate(i, dates[i], None if tps[i] is None else int(tps[i])) for i in idx]
        j, applied, by, fallback = _choose(cands, rule, endpoint_dates.get(pid))
        kept.append((idx[j], len(idx), applied, by, fallback))
    kept.sort()
    positions = [k[0] for k in kept]
    records = pd.DataFrame(
        {
            schema.PATIENT_ID: [pids[i] for i in positions],
            "modality": modality,
            "group": [groups[i] for i in positions],
            SOURCE_ROW: pd.array([rows[i] for i in positions], dtype="Int64"),
            schema.DATE_COLUMN: pd.array([dates[i] for i in positions], dtype=object),
            schema.TIMEPOINT_COLUMN: pd.array([tps[i] for i in positions], dtype="Int64"),
            "n_candidates": pd.array([k[1] for k in kept], dtype="int64"),
            "rule": rule,
            "applied": [k[2] for k in kept],
            "by": [k[3] for k in kept],
            "fallback": [k[4] for k in kept],
        },
        columns=list(SELECTION_COLUMNS),
    )
    return frame.iloc[positions].reset_index(drop=True), records


@dataclass(frozen=True)
class Selection:
    """What the rules kept: ``rules`` (modality -> rule) and ``table`` (``SELECTION_COLUMNS``, one row
    per kept row)."""

    rules: dict[str, str]
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SELECTION_COLUMNS)))

    def _rows(self, modality: str) -> pd.DataFrame:
        return self.table[self.table["modality"] == modality]

    def several(self, modality: str) -> list[str]:
        """Sorted ids of the patients with several candidates in a group of ``modality``."""
        t = self._rows(modality)
        return sorted(set(t.loc[t["n_candidates"] > 1, schema.PATIENT_ID]))

    def fallbacks(self, modality: str) -> dict[str, list[str]]:
        """Fallback reason -> sorted ids of the patients for whom the rule fell back for that reason."""
        t = self._rows(modality)
        t = t[t["fallback"] != ""]
        return {reason: sorted(set(g[schema.PATIENT_ID])) for reason, g in t.groupby("fallback", sort=True)}

    def summary(self) -> dict[str, Any]:
        """Counts for provenance: per modality the rule, rows kept, patients with several candidates,
        decisions by rule applied, and the patients of each fallback (by id)."""
        out: dict[str, Any] = {"rules": dict(self.rules)}
        for m, rule in self.rules.items():
            t = self._rows(m)
            decided = t[t["n_candidates"] > 1]
            out[m] = {
                "rule": rule,
                "rows_kept": len(t),
                "patients_with_several": len(self.several(m)),
                "applied": {k: int(v) for k, v in decided["applied"].value_counts().sort_index().items()}
                if rule != POOL
                else {},
                "fallback": self.fallbacks(m),
            }
        return out

    def lines(self) -> list[str]:
        """The validation report's account of the selection: per modality the rule, the patients with
        several candidates (by id) and those for whom the rule fell back (by id, with the reason)."""
        rules = ", ".join(f"{m} {r}" for m, r in self.rules.items())
        out = [f"  selection (rules: {rules}; set `selection` in the run configuration or --selection)"]
        for m, rule in self.rules.items():
            ids = self.several(m)
            what = CANDIDATES[m]
            if not ids:
                out.append(f"    {m:8s} {rule}: no patient with several {what}")
                continue
            if rule == POOL:
                out.append(f"    {m:8s} all: every report kept ({len(ids)} patient(s) with several {what})")
                continue
            out.append(_wrap(f"    {m:8s} {rule}: {len(ids)} patient(s) with several {what}: ", ids))
            t = self._rows(m)
            decided = t[t["n_candidates"] > 1]
            counts = decided.groupby(["applied", "by"], sort=True).size()
            out.append(
                "             kept by "
                + "; ".join(f"{applied} ({by}) for {n} group(s)" for (applied, by), n in counts.items())
            )
            for reason, who in self.fallbacks(m).items():
                out.append(_wrap(f"             fell back ({reason}): ", who))
        return out


def _wrap(head: str, ids: list[str]) -> str:
    return textwrap.fill(
        ", ".join(ids), width=110, initial_indent=head, subsequent_indent=" " * 15, break_on_hyphens=False
    )


def select(
    frames: Mapping[str, pd.DataFrame], rules: Mapping[str, str], endpoint_dates: Mapping[str, str | None]
) -> tuple[dict[str, pd.DataFrame], Selection]:
    """Apply ``rules`` (from ``selection_rules``) to every modality's validated table."""
    kept: dict[str, pd.DataFrame] = {}
    records = []
    for m in schema.MODALITIES:
        kept[m], rec = select_rows(frames[m], m, rules[m], endpoint_dates)
        records.append(rec)
    return kept, Selection(dict(rules), pd.concat(records, ignore_index=True))
