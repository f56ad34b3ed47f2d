"""The ``label`` cell of imaging.csv: which region(s) of a scan's mask are read, and under which names.

Grammar (whitespace around tokens is ignored):

- empty: one region, the default (label 1 of a label image, segment 1 of a DICOM-SEG; for an RTSTRUCT,
  its only structure);
- ``2``: one region, label (or SEG segment number) 2, named ``"2"``;
- ``1;2;3``: three regions named ``"1"``, ``"2"``, ``"3"`` (one per bowel segment or lesion);
- ``ileum=1;colon=2``: named regions; names are what aggregated features and messages show;
- for an RTSTRUCT, structure names instead of numbers: ``Bowel wall`` or ``ileum=Ileum wall;colon=Colon``.

A region's ``key`` is an ``int`` for a label or segment number, a ``str`` for an RTSTRUCT structure name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_LABEL = 1
SEPARATOR = ";"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]*$")


class RegionSpecError(ValueError):
    """A ``label`` cell that does not follow the grammar; the message says what to write."""


@dataclass(frozen=True)
class Region:
    """One region of a mask: the ``name`` it is reported under and the ``key`` that selects it."""

    name: str
    key: int | str

    @property
    def is_label(self) -> bool:
        """Whether ``key`` is a label value / segment number (else an RTSTRUCT structure name)."""
        return isinstance(self.key, int)


DEFAULT_REGIONS: tuple[Region, ...] = (Region(str(DEFAULT_LABEL), DEFAULT_LABEL),)
"""What an empty ``label`` cell means for a label image or a DICOM-SEG."""


def _key(token: str) -> int | str:
    if re.fullmatch(r"[+]?\d+", token):
        value = int(token)
        if value < 1:
            raise RegionSpecError(f"label {token!r}: labels are positive integers (0 is the background)")
        return value
    if re.fullmatch(r"-\d+|\d*\.\d+", token):
        raise RegionSpecError(f"label {token!r}: labels are positive integers")
    return token


def parse_regions(cell: str | None) -> tuple[Region, ...]:
    """The regions a ``label`` cell names (``DEFAULT_REGIONS`` when empty); ``RegionSpecError`` when the
    cell breaks the grammar (duplicate names or keys, a name with odd characters, label 0 or negative)."""
    text = "" if cell is None else str(cell).strip()
    if not text or text.lower() in ("nan", "na", "none"):
        return DEFAULT_REGIONS
    regions: list[Region] = []
    for part in text.split(SEPARATOR):
        part = part.strip()
        if not part:
            raise RegionSpecError(f"empty region in {text!r}: separate regions with a single {SEPARATOR!r}")
        if "=" in part:
            name, _, key_text = (s.strip() for s in part.partition("="))
            if not name or not key_text:
                raise RegionSpecError(f"{part!r}: write name=label, e.g. ileum=1")
        else:
            name, key_text = part, part
        if not _NAME.match(name):
            raise RegionSpecError(
                f"region name {name!r}: use letters, digits, '_', '-', '.' and spaces (e.g. terminal_ileum); "
                f"an RTSTRUCT structure with other characters needs a name, e.g. roi={key_text}"
            )
        regions.append(Region(name, _key(key_text)))
    names = [r.name for r in regions]
    keys = [r.key for r in regions]
    for what, values in (("name", names), ("label", keys)):
        dup = sorted({str(v) for v in values if values.count(v) > 1})
        if dup:
            raise RegionSpecError(f"duplicate region {what}(s) {dup} in {text!r}")
    if len({r.is_label for r in regions}) > 1:
        raise RegionSpecError(
            f"{text!r} mixes label numbers and structure names; a mask is either a label image/DICOM-SEG "
            "(numbers) or an RTSTRUCT (structure names)"
        )
    return tuple(regions)


def format_regions(regions: tuple[Region, ...]) -> str:
    """The canonical ``label`` cell for ``regions`` (inverse of ``parse_regions``)."""
    if regions == DEFAULT_REGIONS:
        return ""
    return SEPARATOR.join(r.name if str(r.key) == r.name else f"{r.name}={r.key}" for r in regions)
