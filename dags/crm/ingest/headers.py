"""Map the header cells of an export to canonical columns."""

from __future__ import annotations

from dataclasses import dataclass

from crm.contract import FIELDS, fold_header, header_lookup
from crm.ingest.errors import FileRejected


@dataclass(frozen=True)
class HeaderMap:
    """Position of each canonical column in the file, plus what was not recognised."""

    positions: dict[str, int]
    unknown: tuple[str, ...]

    @property
    def matched(self) -> int:
        return len(self.positions)


def map_headers(source: str, headers: list[object]) -> HeaderMap:
    """Resolve header aliases; never raises (use ``check_header_map`` for the file-level rules)."""
    lookup = header_lookup(source)
    positions: dict[str, int] = {}
    unknown: list[str] = []
    duplicated: list[str] = []
    for index, cell in enumerate(headers):
        if cell is None or str(cell).strip() == "":
            continue
        column = lookup.get(fold_header(str(cell)))
        if column is None:
            unknown.append(str(cell))
        elif column in positions:
            duplicated.append(column)
        else:
            positions[column] = index
    if duplicated:
        # Keep the information for check_header_map; two columns claiming one field is ambiguous.
        positions = {**positions, **{f"__dup__{c}": -1 for c in duplicated}}
    return HeaderMap(positions=positions, unknown=tuple(unknown))


def check_header_map(source: str, header_map: HeaderMap, file_name: str) -> HeaderMap:
    """Reject ambiguous headers and files that lack a required column."""
    duplicated = sorted(k.removeprefix("__dup__") for k in header_map.positions if k.startswith("__dup__"))
    if duplicated:
        raise FileRejected(
            "duplicate_header",
            f"{file_name}: more than one column maps to {', '.join(duplicated)} "
            "(rule: each canonical column may appear once in the header)",
        )
    missing = [f.name for f in FIELDS[source] if f.required and f.name not in header_map.positions]
    if missing:
        found = ", ".join(sorted(header_map.positions)) or "none"
        raise FileRejected(
            "missing_required_columns",
            f"{file_name}: required column(s) {', '.join(missing)} not found in the header "
            f"(recognised: {found}; unrecognised: {', '.join(header_map.unknown) or 'none'}). "
            "See docs/input_format.md for the accepted header aliases.",
        )
    return header_map
