"""Phone numbers to E.164 digits (no '+'), with the reason when a value is not a number.

`normalize_phones` works on whole Arrow columns: it trims and dedupes the raw values (a
segment repeats many), sends the distinct ones through the vectorised fast path
(`phone_rules`, phonenumbers' own metadata run with RE2) and the rest through
`normalize_phone`, the per-value reference built on `phonenumbers.parse`, and maps the
answers back to the rows. Both paths agree on every value the fast path accepts (tested).

Policy, in the order checked (the first failing check is the reason):

- `empty`: null, or only whitespace.
- `too_long`: more than `MAX_PHONE_CHARS` characters after trimming; rejected unread, so a
  10 MB string costs one length check.
- `invalid_characters`: letters (we do not guess vanity numbers like 1-800-FLOWERS, nor
  read "ext. 12" extensions: WhatsApp cannot message an extension), or digits of more than
  one script. Non-ASCII *decimal* digits written in one script (Devanagari, Arabic-Indic,
  fullwidth, ...) are accepted and folded to ASCII, as phonenumbers does: people in India,
  Egypt or Iran type them. Digit-like symbols that are not decimal digits (superscripts,
  circled digits) are left to phonenumbers, which refuses them (`NOT_A_NUMBER`).
- `invalid_number`: phonenumbers cannot parse it or says it is not valid; the detail names
  phonenumbers' reason (`TOO_SHORT_NSN`, `INVALID_COUNTRY_CODE`, `INVALID_LENGTH`, ...).

National numbers are read with the row's region (a column of the segment) or the campaign's
default region. Integer columns hold E.164 digits (no '+', no leading 0 can be stored), so
their values are read as international numbers. Digit strings follow phonenumbers: with a
default region, `4915123456789` is a (German) national number; write `+49...` to be sure.
"""

from __future__ import annotations

import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

from .phone_rules import fast_normalize
from .settings import MAX_PHONE_CHARS

__all__ = ["NormalizedPhones", "PhoneCheck", "normalize_phone", "normalize_phones"]

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "INVALID_COUNTRY_CODE",
    NumberParseException.NOT_A_NUMBER: "NOT_A_NUMBER",
    NumberParseException.TOO_SHORT_AFTER_IDD: "TOO_SHORT_AFTER_IDD",
    NumberParseException.TOO_SHORT_NSN: "TOO_SHORT_NSN",
    NumberParseException.TOO_LONG: "TOO_LONG",
}
_LENGTH_RESULTS = {
    ValidationResult.IS_POSSIBLE: "NOT_VALID",  # a possible length, but no number range matches
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "IS_POSSIBLE_LOCAL_ONLY",
    ValidationResult.INVALID_COUNTRY_CODE: "INVALID_COUNTRY_CODE",
    ValidationResult.TOO_SHORT: "TOO_SHORT",
    ValidationResult.INVALID_LENGTH: "INVALID_LENGTH",
    ValidationResult.TOO_LONG: "TOO_LONG",
}
# Distinct (value, region) pairs remembered across calls: suppression lists, re-runs and
# tests meet the same odd values again.
_CACHE_SIZE = 200_000
# The fast path splits big inputs over threads (never more than the machine's cores).
_MAX_THREADS = 2
_ROWS_PER_THREAD = 100_000


@dataclass(frozen=True, slots=True)
class PhoneCheck:
    """The outcome for one raw value: E.164 digits and country, or a reject reason.

    Attributes:
        recipient: E.164 digits without '+', or None when rejected.
        country: ISO 3166 alpha-2 region of the number, or None.
        reason: None when valid; else empty, too_long, invalid_characters, invalid_number.
        detail: Why, in words (phonenumbers' reason for invalid_number).

    Example:
        >>> normalize_phone("0151 2345 6789", "DE")
        PhoneCheck(recipient='4915123456789', country='DE', reason=None, detail=None)
    """

    recipient: str | None
    country: str | None = None
    reason: str | None = None
    detail: str | None = None


def _reject(reason: str, detail: str) -> PhoneCheck:
    return PhoneCheck(recipient=None, reason=reason, detail=detail)


def _character_problem(text: str) -> str | None:
    letters = [ch for ch in text if ch.isalpha()]
    if letters:
        return f"letters in the number ({''.join(letters[:10])!r})"
    # Each decimal digit's zero code point names its script (ASCII 0x30, Devanagari 0x966, ...).
    zeros = {ord(ch) - unicodedata.decimal(ch) for ch in text if ch.isdecimal()}
    if len(zeros) > 1:
        return "digits of more than one script"
    return None


@lru_cache(maxsize=_CACHE_SIZE)
def normalize_phone(raw: str | None, region: str | None) -> PhoneCheck:
    """Normalise one raw value with phonenumbers (the reference the fast path agrees with).

    Args:
        raw: The value as the segment has it.
        region: ISO region for numbers written without a country code (None: none).

    Returns:
        The E.164 digits and country, or the reject reason and detail.

    Example:
        >>> normalize_phone("+49 151", None).reason
        'invalid_number'
    """
    if raw is None:
        return _reject("empty", "no number (null)")
    text = raw.strip()
    if not text:
        return _reject("empty", "no number (blank)")
    if len(text) > MAX_PHONE_CHARS:
        return _reject("too_long", f"{len(text)} characters (at most {MAX_PHONE_CHARS})")
    problem = _character_problem(text)
    if problem:
        return _reject("invalid_characters", problem)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        name = _PARSE_ERRORS.get(exc.error_type, str(exc.error_type))
        return _reject("invalid_number", f"{name}: {exc._msg}")
    if number.extension:  # e.g. a '#' or ';' extension: not a messageable number
        return _reject("invalid_number", f"EXTENSION: has an extension ({number.extension})")
    if not phonenumbers.is_valid_number(number):
        result = phonenumbers.is_possible_number_with_reason(number)
        name = _LENGTH_RESULTS.get(result, str(result))
        nsn = phonenumbers.national_significant_number(number)
        return _reject(
            "invalid_number", f"{name}: +{number.country_code} {nsn} is not a valid number"
        )
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return PhoneCheck(recipient=e164[1:], country=phonenumbers.region_code_for_number(number))


@dataclass(frozen=True)
class NormalizedPhones:
    """Per-row outcome of `normalize_phones`, as Arrow string arrays of the input's length.

    Attributes:
        recipient: E.164 digits without '+' (null when rejected).
        country: ISO region of the number (null when rejected).
        reason: Reject reason (null when valid).
        detail: Reject detail (null when valid).
        distinct: How many distinct (value, region) pairs were looked at.
        slow: How many of those needed the per-value path.

    Example:
        >>> import pyarrow as pa
        >>> normalize_phones(pa.array(["+49 151 23456789", "x"]), "DE").reason.to_pylist()
        [None, 'invalid_characters']
    """

    recipient: pa.Array
    country: pa.Array
    reason: pa.Array
    detail: pa.Array
    distinct: int
    slow: int

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of the rows with a valid number."""
        return self.recipient.is_valid().to_numpy(zero_copy_only=False)


def _as_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), pa.string())
    if pa.types.is_floating(values.type):
        # 4.91511234567e12 in a DOUBLE column: keep the digits, not the float's text.
        values = pc.cast(pc.round(values), pa.int64(), safe=False)
    if pa.types.is_integer(values.type):
        # A number column cannot hold '+' or a leading 0: its values are E.164 digits (how
        # WhatsApp ids and most exports store them). Read as national numbers, German rules
        # would accept almost any of them as a landline: +49 4915123456789.
        return pc.binary_join_element_wise("+", pc.cast(values, pa.string()), "")
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def _regions(
    count: int, default_region: str | None, regions: pa.Array | pa.ChunkedArray | None
) -> pa.Array:
    """The region per row: the row's own (upper-cased) where given, else the default."""
    default = pa.scalar(default_region, pa.string())
    if regions is None:
        return pa.array(np.full(count, default_region, dtype=object), pa.string())
    cleaned = pc.utf8_upper(pc.utf8_trim_whitespace(_as_strings(regions)))
    blank = pc.equal(cleaned, "")
    return pc.if_else(pc.fill_null(blank, True), default, cleaned)


def _fast_in_parallel(values: pa.Array, regions: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """`fast_normalize` over slices on a few threads: pyarrow's kernels release the GIL."""
    workers = min(_MAX_THREADS, os.cpu_count() or 1, max(1, len(values) // _ROWS_PER_THREAD))
    if workers == 1:
        return fast_normalize(values, regions)
    bounds = np.linspace(0, len(values), workers + 1).astype(int)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="phones") as pool:
        parts = list(
            pool.map(
                lambda span: fast_normalize(values[span[0] : span[1]], regions[span[0] : span[1]]),
                pairwise(bounds),
            )
        )
    return pa.concat_arrays([p[0] for p in parts]), pa.concat_arrays([p[1] for p in parts])


def normalize_phones(
    values: pa.Array | pa.ChunkedArray,
    default_region: str | None,
    regions: pa.Array | pa.ChunkedArray | None = None,
) -> NormalizedPhones:
    """Normalise a column of phone numbers as written by people, fast.

    Args:
        values: The raw numbers (strings, or integers of a numeric column).
        default_region: ISO region for national numbers when the row has none.
        regions: Optional per-row ISO region (e.g. the customer's country column).

    Returns:
        Per-row recipient, country, reason and detail (see the module's policy).
    """
    raw = _as_strings(values)
    count = len(raw)
    region = _regions(count, default_region, regions)
    trimmed = pc.utf8_trim_whitespace(raw)
    lengths = pc.utf8_length(trimmed)
    # Dedupe on (region, value); huge values are kept out of the dictionary (and answered
    # by the length check), so dedupe never hashes megabytes.
    short = pc.fill_null(pc.less_equal(lengths, MAX_PHONE_CHARS), False)
    region_key = pc.fill_null(region, "--")
    keyed = pc.binary_join_element_wise(region_key, pc.if_else(short, trimmed, None), "|")
    encoded = pc.dictionary_encode(keyed)
    uniques = encoded.dictionary
    unique_values = pc.utf8_slice_codeunits(uniques, 3)
    unique_regions = pc.utf8_slice_codeunits(uniques, 0, 2).to_numpy(zero_copy_only=False)
    unique_regions = np.where(unique_regions == "--", None, unique_regions)
    e164, country = _fast_in_parallel(unique_values, unique_regions)
    slow_rows = np.flatnonzero(e164.is_null().to_numpy(zero_copy_only=False))
    reason = pa.nulls(len(uniques), pa.string())
    detail = pa.nulls(len(uniques), pa.string())
    if len(slow_rows):
        texts = unique_values.take(slow_rows).to_pylist()
        checks = [
            normalize_phone(text, region_code)
            for text, region_code in zip(texts, unique_regions[slow_rows], strict=True)
        ]
        mask = np.zeros(len(uniques), dtype=bool)
        mask[slow_rows] = True
        fill = pa.array(mask)
        e164 = pc.replace_with_mask(
            e164, fill, pa.array([c.recipient for c in checks], pa.string())
        )
        country = pc.replace_with_mask(
            country, fill, pa.array([c.country for c in checks], pa.string())
        )
        reason = pc.replace_with_mask(
            reason, fill, pa.array([c.reason for c in checks], pa.string())
        )
        detail = pc.replace_with_mask(
            detail, fill, pa.array([c.detail for c in checks], pa.string())
        )
    index = encoded.indices
    # Rows outside the dictionary are null or longer than MAX_PHONE_CHARS.
    outside = index.is_null()
    is_null = raw.is_null()
    long_detail = pc.binary_join_element_wise(
        pc.cast(lengths, pa.string()), f" characters (at most {MAX_PHONE_CHARS})", ""
    )
    out_reason = pc.if_else(outside, pc.if_else(is_null, "empty", "too_long"), reason.take(index))
    out_detail = pc.if_else(
        outside, pc.if_else(is_null, "no number (null)", long_detail), detail.take(index)
    )
    return NormalizedPhones(
        recipient=e164.take(index),
        country=country.take(index),
        reason=out_reason,
        detail=out_detail,
        distinct=len(uniques),
        slow=len(slow_rows),
    )
