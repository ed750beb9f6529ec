"""Who must not get the campaign: landed opt-outs and failures, and the user's own list.

Sources, in the order a recipient's reason is chosen when several apply:

| reason | source |
|---|---|
| `suppressed_stop` | latest landed preference per wa_id is `stop` (`events/preferences`) |
| `suppressed_131050` | an earlier send failed with 131050 (`events/statuses`) |
| `suppressed_list` | a CSV/Parquet file or a query result: column `recipient`, or the only column |
| `suppressed_131049` | (optional) hit the per-user marketing limit in the last N hours |

List entries are normalised like the segment (default region), so people can write them any
way; entries that are not numbers are counted, not fatal, and duplicates count once. A named
events folder or list that does not exist is an error, and so is a list in which no entry is a
number: a typo or the wrong column must not silently switch suppression off. A list file is
checked before it is read (`mmapi.input_files`): at most `MAX_SUPPRESSION_LIST_BYTES`, UTF-8
CSV (with a header, or a single column without one) or Parquet with a text or integer column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import storage
from ..campaign import SuppressionSpec
from ..errors import SpecError, SuppressionListError
from ..input_files import check_file, check_text_encoding
from ..landing.remote import readable_events
from ..settings import MAX_SUPPRESSION_LIST_BYTES
from ..sql import load_sql
from .phones import normalize_phones

__all__ = ["SUPPRESSION_REASONS", "SuppressionList"]

SUPPRESSION_REASONS = (
    "suppressed_stop",
    "suppressed_131050",
    "suppressed_list",
    "suppressed_131049",
)
_STOPPED_MARKETING = 131050
_USER_LIMIT = 131049


def _event_files(events_dir: Path, kind: str) -> list[str]:
    return [str(path) for path in sorted((events_dir / kind).rglob("*.parquet"))]


def _query(sql_name: str, params: dict[str, object]) -> pa.Array:
    with duckdb.connect() as connection:
        table = connection.sql(load_sql(sql_name), params=params).to_arrow_table()
    recipients = table.column("recipient").combine_chunks()
    return pc.filter(recipients, pc.greater(pc.utf8_length(recipients), 0))


# Arrow types a list column may have: text, numbers of a numeric export (as `normalize_phones`
# reads them), or nothing at all (an empty list).
_LIST_TYPES = (
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_null,
)


def _list_column(name: str, names: list[str]) -> str:
    if "recipient" in names:
        return "recipient"
    if len(names) == 1:
        return names[0]
    raise SuppressionListError(
        f"{name}: give a 'recipient' column or a single column (found {', '.join(names)})"
    )


def _read_csv_list(path: Path, name: str, default_region: str | None) -> pa.Array:
    check_text_encoding(
        path,
        what="suppression list",
        max_bytes=MAX_SUPPRESSION_LIST_BYTES,
        error=SuppressionListError,
        name=name,
    )
    try:
        with duckdb.connect() as connection:
            table = connection.sql(
                load_sql("audience/read_csv"), params={"path": str(path)}
            ).to_arrow_table()
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise SuppressionListError(f"{name}: not a readable CSV list ({first_line})") from None
    column = _list_column(name, table.column_names)
    values = table.column(column).combine_chunks()
    header_is_a_number = normalize_phones(pa.array([column]), default_region).recipient[0].is_valid
    if column != "recipient" and header_is_a_number:
        # A list without a header: its first number was read as the column's name.
        values = pa.concat_arrays([pa.array([column], values.type), values])
    return values


def _read_parquet_list(path: Path, name: str) -> pa.Array:
    check_file(
        path,
        what="suppression list",
        max_bytes=MAX_SUPPRESSION_LIST_BYTES,
        error=SuppressionListError,
        name=name,
    )
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise SuppressionListError(
            f"{name}: not a Parquet file ({exc}); a list is .csv, .csv.gz or .parquet"
        ) from None
    column = _list_column(name, schema.names)
    kind = schema.field(column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not any(check(kind) for check in _LIST_TYPES):
        raise SuppressionListError(
            f"{name}: column {column!r} is {kind}; phone numbers must be text or digits"
        )
    try:
        values = pq.read_table(path, columns=[column]).column(column).combine_chunks()
    except (pa.ArrowException, OSError) as exc:
        raise SuppressionListError(f"{name}: cannot read column {column!r} ({exc})") from None
    return values.dictionary_decode() if pa.types.is_dictionary(values.type) else values


def _list_values(source: str | Path, default_region: str | None) -> pa.Array:
    """The raw entries of a list file (a path or an object store URL), after the checks of
    `mmapi.input_files`; messages name `source`."""
    name = str(source)
    missing = SuppressionListError(f"suppression list {name} not found")
    try:
        path = storage.readable_file(source, what="suppression list")
    except FileNotFoundError:  # no such object
        raise missing from None
    if not path.exists():
        raise missing
    if path.name.lower().endswith((".csv", ".csv.gz")):
        return _read_csv_list(path, name, default_region)
    return _read_parquet_list(path, name)


@dataclass(frozen=True)
class SuppressionList:
    """Suppressed recipients (E.164 digits) with the reason for each.

    Attributes:
        recipient: Distinct suppressed recipients.
        reason: The reason of each (see `SUPPRESSION_REASONS`, first one wins).
        counts: Recipients found per reason, before overlaps are removed.
        unreadable: List entries that are not valid numbers (ignored).

    Example:
        >>> empty = SuppressionList.load(SuppressionSpec(), default_region="DE")
        >>> empty.reasons_for(pa.array(["4915123456789"])).to_pylist()
        [None]
    """

    recipient: pa.Array
    reason: pa.Array
    counts: dict[str, int] = field(default_factory=dict)
    unreadable: int = 0

    @classmethod
    def load(
        cls,
        spec: SuppressionSpec,
        *,
        default_region: str | None,
        events_dir: str | Path | None = None,
        list_paths: list[str | Path] | None = None,
        now: datetime | None = None,
    ) -> SuppressionList:
        """Read every source the spec names.

        Args:
            spec: The campaign's suppression settings.
            default_region: Region for national numbers in suppression lists.
            events_dir: Landed events folder; overrides `spec.events_dir` when given.
            list_paths: More list files (paths or `s3://` URLs), e.g. the extracted result of
                `spec.list_query`.
            now: The time the 131049 window ends (default: now, UTC).

        Raises:
            SpecError: the named events folder does not exist.
            SuppressionListError: (a SpecError) a list file is missing, empty, over
                `MAX_SUPPRESSION_LIST_BYTES`, not UTF-8 CSV or Parquet, has no usable column
                or a column of the wrong type, or holds no phone number at all; the message
                names the file and the column.
        """
        parts: list[tuple[str, pa.Array]] = []
        unreadable = 0
        folder = events_dir if events_dir is not None else spec.events_dir
        if folder is not None:
            if storage.is_url(folder) and not storage.exists(folder):
                raise SpecError(f"events folder {folder} not found")
            folder = readable_events(folder)  # an s3:// folder: a local copy of its files
            if not folder.is_dir():
                raise SpecError(f"events folder {folder} not found")
            preferences = _event_files(folder, "preferences")
            statuses = _event_files(folder, "statuses")
            if preferences:
                stopped = _query("audience/stopped_recipients", {"files": preferences})
                parts.append(("suppressed_stop", stopped))
            if statuses:
                params = {"files": statuses, "code": _STOPPED_MARKETING, "since": None}
                parts.append(("suppressed_131050", _query("audience/failed_recipients", params)))
            if statuses and spec.user_limit_hours:
                since = (now or datetime.now(UTC)) - timedelta(hours=spec.user_limit_hours)
                params = {"files": statuses, "code": _USER_LIMIT, "since": since}
                parts.append(("suppressed_131049", _query("audience/failed_recipients", params)))
        sources = [*([spec.list_path] if spec.list_path else []), *(list_paths or [])]
        for source in sources:
            entries = _list_values(source, default_region)
            phones = normalize_phones(entries, default_region)
            bad = int(pc.sum(phones.recipient.is_null()).as_py() or 0)
            if entries.null_count < len(entries) and bad == len(entries):
                # Emails or customer ids instead of numbers: suppression would be silently off.
                raise SuppressionListError(
                    f"{source}: none of its {len(entries):,} entries is a phone number "
                    f"(first: {str(entries[0].as_py())[:40]!r})"
                )
            unreadable += bad
            parts.append(("suppressed_list", pc.drop_null(phones.recipient)))
        parts.sort(key=lambda part: SUPPRESSION_REASONS.index(part[0]))
        counts = {reason: 0 for reason in SUPPRESSION_REASONS}
        for reason, recipients in parts:
            counts[reason] += len(pc.unique(recipients))
        if not parts:
            return cls(pa.array([], pa.string()), pa.array([], pa.string()), counts, unreadable)
        recipients = pa.concat_arrays([pc.cast(r, pa.string()) for _, r in parts])
        reasons = pa.concat_arrays(
            [pa.array([reason] * len(r), pa.string()) for reason, r in parts]
        )
        # Keep each recipient's first (highest-priority) reason.
        table = pa.table({"recipient": recipients, "reason": reasons})
        first = table.group_by("recipient", use_threads=False).aggregate([("reason", "first")])
        return cls(
            first.column("recipient").combine_chunks(),
            first.column("reason_first").combine_chunks(),
            counts,
            unreadable,
        )

    def __len__(self) -> int:
        return len(self.recipient)

    def reasons_for(self, recipients: pa.Array) -> pa.Array:
        """The suppression reason of each recipient, null where not suppressed."""
        if not len(self.recipient):
            return pa.nulls(len(recipients), pa.string())
        return self.reason.take(pc.index_in(recipients, value_set=self.recipient))
