"""The vectorised fast path of phone normalisation: phonenumbers' own rules, run over Arrow.

A per-row `phonenumbers.parse` + `is_valid_number` + `format_number` costs tens of
microseconds, too slow for millions of rows. Most numbers in a warehouse have one of a few
shapes (`+49 151 ...`, `0151 ...`, `0049 ...`, `(11) 9xxxx-xxxx`), and for those the library's
decision reduces to regular expressions from its own metadata: strip the `+` or the
international prefix, take the country code, strip a plain national prefix, and full-match the
national number against the region's number-type patterns and possible lengths. This module
runs exactly those steps with RE2 over Arrow arrays (pyarrow compute).

It only ever *accepts*: a value it cannot prove valid in the same way phonenumbers would is
left to the per-value slow path (`phones.normalize_phone`), which also gives the reason of
every reject. So the fast path can be conservative without changing any result; a test
compares both paths on thousands of generated numbers. Shapes left to the slow path: letters,
non-ASCII digits, a `+` not in front, national prefixes with carrier codes (AR, BR `0xx`),
national numbers starting with their own country code, and non-geographic country codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

__all__ = ["fast_normalize"]

# The number types `is_valid_number` accepts, most common first: a row stops at its first match.
_TYPE_DESCS = (
    "mobile",
    "fixed_line",
    "voip",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
# ASCII digits, phonenumbers' common punctuation, and one leading plus: nothing else is fast.
_FAST_SHAPE = r"^\+?[0-9 ().\/-]+$"
_PUNCTUATION = (" ", "-", "(", ")", ".", "/")
_COUNTRY_CODES = pa.array(sorted(str(code) for code in COUNTRY_CODE_TO_REGION_CODE), pa.string())


@dataclass(frozen=True)
class _Desc:
    """A number pattern (anchored for RE2) and its possible lengths (empty = any)."""

    pattern: str
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class _Rules:
    """What the fast path needs of one region's metadata."""

    region: str
    country_code: int
    general: _Desc
    types: tuple[_Desc, ...]
    leading_digits: str | None
    idd: str | None  # anchored international prefix without capture groups
    idd_can_match: bool  # the region has an international prefix at all
    national_prefix: str | None  # anchored, for a plain prefix (no groups, no transform)
    national_prefix_complex: str | None  # anchored, for one the fast path leaves alone
    national_prefix_any: str | None  # anchored, either kind: "does a prefix start here?"
    max_length: int  # longest possible national number
    local_lengths: tuple[int, ...]  # lengths only dialable locally


def _desc(desc: object) -> _Desc | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    return _Desc(f"^(?:{pattern})$", tuple(getattr(desc, "possible_length", ()) or ()))


@cache
def _rules(region: str | None) -> _Rules | None:
    if region is None:
        return None
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    general = _desc(metadata.general_desc)
    if general is None:
        return None
    types = tuple(d for d in (_desc(getattr(metadata, n)) for n in _TYPE_DESCS) if d is not None)
    idd = metadata.international_prefix
    npfp = metadata.national_prefix_for_parsing
    plain_prefix = bool(npfp) and re.compile(npfp).groups == 0
    plain_prefix = plain_prefix and not metadata.national_prefix_transform_rule
    return _Rules(
        region=region,
        country_code=metadata.country_code,
        general=general,
        types=types,
        leading_digits=f"^(?:{metadata.leading_digits})" if metadata.leading_digits else None,
        idd=f"^(?P<idd>{idd})" if idd and re.compile(idd).groups == 0 else None,
        idd_can_match=bool(idd),
        national_prefix=f"^(?P<prefix>{npfp})" if plain_prefix else None,
        national_prefix_complex=f"^(?:{npfp})" if npfp and not plain_prefix else None,
        national_prefix_any=f"^(?:{npfp})" if npfp else None,
        max_length=max(general.lengths, default=17),
        local_lengths=tuple(metadata.general_desc.possible_length_local_only or ()),
    )


def _matches(values: pa.Array, desc: _Desc) -> np.ndarray:
    """phonenumbers' `_is_number_matching_desc`: a possible length and a full pattern match."""
    hit = pc.match_substring_regex(values, desc.pattern).to_numpy(zero_copy_only=False)
    if desc.lengths:
        lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
        hit &= np.isin(lengths, desc.lengths)
    return hit


def _valid_for(values: pa.Array, rules: _Rules) -> np.ndarray:
    """phonenumbers' `_number_type_helper(...) != UNKNOWN`, for every value at once."""
    valid = np.zeros(len(values), dtype=bool)
    pending = np.flatnonzero(_matches(values, rules.general))
    for desc in rules.types:
        if not len(pending):
            break
        hit = _matches(values.take(pending), desc)
        valid[pending[hit]] = True
        pending = pending[~hit]
    return valid


def _prefix_length(values: pa.Array, pattern: str, group: str) -> np.ndarray:
    """Length of the match of an anchored pattern at the start of each value (-1: no match)."""
    found = pc.extract_regex(values, pattern)
    # A row without a match is a null struct whose field reads as "": check validity first.
    length = pc.if_else(found.is_valid(), pc.utf8_length(found.field(group)), -1)
    return pc.fill_null(length, -1).to_numpy(zero_copy_only=False)


def _slice_from(values: pa.Array, starts: np.ndarray, stop_after: int | None = None) -> pa.Array:
    """Each value from its own start offset (a handful of distinct offsets: one slice each)."""
    if not len(values):
        return values
    pieces: list[pa.Array] = []
    order: list[np.ndarray] = []
    for start in np.unique(starts):
        rows = np.flatnonzero(starts == start)
        stop = None if stop_after is None else int(start) + stop_after
        pieces.append(pc.utf8_slice_codeunits(values.take(rows), int(start), stop))
        order.append(rows)
    return _scatter(len(values), order, pieces)


def _scatter(count: int, rows: list[np.ndarray], pieces: list[pa.Array]) -> pa.Array:
    """One string array of `count` values: piece i fills `rows[i]`, the rest is null."""
    if not pieces:
        return pa.nulls(count, pa.string())
    where = np.full(count, -1, dtype=np.int64)
    where[np.concatenate(rows)] = np.arange(sum(len(r) for r in rows))
    return pa.concat_arrays(pieces).take(pa.array(where, mask=where < 0))


def _strip_national_prefix(numbers: pa.Array, rules: _Rules) -> tuple[pa.Array, np.ndarray]:
    """phonenumbers' national prefix stripping, where it is plain; marks the rest as unknown.

    A plain prefix (`0`, `0|180020`) is stripped when the rest matches the region's general
    pattern with a possible length: the library strips it then too (the rest is viable and
    passes its length test). Otherwise the value goes to the slow path, which decides exactly.
    """
    known = np.ones(len(numbers), dtype=bool)
    if rules.national_prefix_complex is not None:
        hit = pc.match_substring_regex(numbers, rules.national_prefix_complex)
        return numbers, known & ~hit.to_numpy(zero_copy_only=False)
    if rules.national_prefix is None:
        return numbers, known
    length = _prefix_length(numbers, rules.national_prefix, "prefix")
    rows = np.flatnonzero(length > 0)
    if not len(rows):
        return numbers, known
    rest = _slice_from(numbers.take(rows), length[rows])
    good = _matches(rest, rules.general)
    known[rows[~good]] = False
    mask = np.zeros(len(numbers), dtype=bool)
    mask[rows[good]] = True
    return pc.replace_with_mask(numbers, pa.array(mask), rest.filter(pa.array(good))), known


def _resolve(code: int, numbers: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """phonenumbers' `region_code_for_number` and `is_valid_number` for one country code."""
    valid = np.zeros(len(numbers), dtype=bool)
    region = np.full(len(numbers), None, dtype=object)
    pending = np.arange(len(numbers))
    for candidate in COUNTRY_CODE_TO_REGION_CODE.get(code, ()):
        rules = _rules(candidate)
        if rules is None or not len(pending):
            continue
        subset = numbers.take(pending)
        if rules.leading_digits is not None:
            hit = pc.match_substring_regex(subset, rules.leading_digits)
            hit = hit.to_numpy(zero_copy_only=False)
            chosen = pending[hit]
            valid[chosen] = _valid_for(numbers.take(chosen), rules)
        else:
            hit = _valid_for(subset, rules)
            chosen = pending[hit]
            valid[chosen] = True
        region[chosen] = candidate
        pending = pending[~hit]
    return valid, region


def _split_country_code(digits: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """phonenumbers' `_extract_country_code`: the first 1-3 digits that are a known code."""
    code = np.zeros(len(digits), dtype=np.int64)
    taken = np.zeros(len(digits), dtype=np.int64)
    lengths = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
    for size in (1, 2, 3):
        head = pc.utf8_slice_codeunits(digits, 0, size)
        hit = pc.is_in(head, _COUNTRY_CODES).to_numpy(zero_copy_only=False)
        hit &= (taken == 0) & (lengths > size)
        code[hit] = pc.cast(head.filter(pa.array(hit)), pa.int64()).to_numpy()
        taken[hit] = size
    return code, _slice_from(digits, taken)


# Numbers to validate: (rows, country code, numbers, rules of the region that strips prefixes).
_Group = tuple[np.ndarray, int, pa.Array, _Rules]


def _own_code(numbers: pa.Array, rules: _Rules) -> tuple[np.ndarray, np.ndarray]:
    """National numbers that start with their region's country code (`1 415 555 2671` in US).

    phonenumbers' `_maybe_extract_country_code` reads the code as a country code when the
    whole number is not viable but the rest is, or when the whole is too long; else the
    number stays national. Returns (read with the code, stays national); a rest that starts
    with a national prefix is neither (slow path).
    """
    rest = pc.utf8_slice_codeunits(numbers, len(str(rules.country_code)))
    prefixed = np.zeros(len(numbers), dtype=bool)
    if rules.national_prefix_any is not None:
        prefixed = pc.match_substring_regex(rest, rules.national_prefix_any).to_numpy(
            zero_copy_only=False
        )
    whole_viable = pc.match_substring_regex(numbers, rules.general.pattern)
    rest_viable = pc.match_substring_regex(rest, rules.general.pattern)
    lengths = pc.utf8_length(numbers).to_numpy(zero_copy_only=False)
    too_long = (lengths > rules.max_length) & ~np.isin(lengths, rules.local_lengths)
    extract = (
        ~whole_viable.to_numpy(zero_copy_only=False) & rest_viable.to_numpy(zero_copy_only=False)
    ) | too_long
    return extract & ~prefixed, ~extract & ~prefixed


def _national_groups(
    rows: np.ndarray, digits: pa.Array, region_of: np.ndarray, groups: list[_Group]
) -> tuple[list[np.ndarray], list[pa.Array]]:
    """Sort national-looking numbers: via an international prefix, plain national, or slow."""
    intl_rows: list[np.ndarray] = []
    intl_numbers: list[pa.Array] = []
    for region in sorted({r for r in region_of.tolist() if r is not None}):
        rules = _rules(region)
        if rules is None:
            continue
        mask = region_of == region
        here, numbers = rows[mask], digits.filter(pa.array(mask))
        if rules.idd is not None:
            idd_length = _prefix_length(numbers, rules.idd, "idd")
        elif rules.idd_can_match:  # an international prefix the fast path cannot read
            continue
        else:
            idd_length = np.full(len(here), -1)
        if (idd_length > 0).any():
            next_digit = _slice_from(numbers, np.maximum(idd_length, 0), stop_after=1)
            via_idd = (idd_length > 0) & pc.match_substring_regex(next_digit, "^[1-9]$").to_numpy(
                zero_copy_only=False
            )
            if via_idd.any():
                intl_rows.append(here[via_idd])
                picked = numbers.filter(pa.array(via_idd))
                intl_numbers.append(_slice_from(picked, idd_length[via_idd]))
        own_code = pc.starts_with(numbers, str(rules.country_code)).to_numpy(zero_copy_only=False)
        own_code &= idd_length < 0
        plain = (idd_length < 0) & ~own_code
        if own_code.any():
            with_code, national_after_all = _own_code(numbers.filter(pa.array(own_code)), rules)
            intl_rows.append(here[own_code][with_code])
            intl_numbers.append(numbers.filter(pa.array(own_code)).filter(pa.array(with_code)))
            plain[np.flatnonzero(own_code)[national_after_all]] = True
        if plain.any():
            groups.append((here[plain], rules.country_code, numbers.filter(pa.array(plain)), rules))
    return intl_rows, intl_numbers


def fast_normalize(values: pa.Array, regions: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """E.164 digits and country of the values the fast path can prove valid.

    Args:
        values: Distinct raw numbers, trimmed, non-null strings.
        regions: Object array: the region for national numbers, per value (None: none).

    Returns:
        Two string arrays the length of `values`: E.164 digits without '+', and the ISO
        region; null where the slow path must decide.
    """
    count = len(values)
    shape = pc.fill_null(pc.match_substring_regex(values, _FAST_SHAPE), False)
    shaped = np.flatnonzero(shape.to_numpy(zero_copy_only=False))
    if not len(shaped):
        return pa.nulls(count, pa.string()), pa.nulls(count, pa.string())
    digits = values.take(shaped)
    for punctuation in _PUNCTUATION:  # literal replaces: twice as fast as one regex replace
        digits = pc.replace_substring(digits, punctuation, "")
    plus = pc.starts_with(digits, "+").to_numpy(zero_copy_only=False)
    groups: list[_Group] = []
    intl_rows, intl_numbers = _national_groups(
        shaped[~plus], digits.filter(pa.array(~plus)), regions[shaped][~plus], groups
    )
    intl_rows.append(shaped[plus])
    intl_numbers.append(pc.utf8_slice_codeunits(digits.filter(pa.array(plus)), 1))
    rows_all = np.concatenate(intl_rows)
    codes, rests = _split_country_code(pa.concat_arrays(intl_numbers))
    for code in sorted(set(codes.tolist()) - {0}):
        rules = _rules(COUNTRY_CODE_TO_REGION_CODE[code][0])
        if rules is None:  # non-geographic codes (800, 870, ...): slow path
            continue
        mask = codes == code
        groups.append((rows_all[mask], code, rests.filter(pa.array(mask)), rules))
    done_rows: list[np.ndarray] = []
    done_e164: list[pa.Array] = []
    done_country: list[pa.Array] = []
    for rows, code, numbers, rules in groups:
        stripped, known = _strip_national_prefix(numbers, rules)
        valid, region = _resolve(code, stripped)
        accepted = known & valid
        if accepted.any():
            keep = pa.array(accepted)
            done_rows.append(rows[accepted])
            done_e164.append(pc.binary_join_element_wise(str(code), stripped.filter(keep), ""))
            done_country.append(pa.array(region[accepted], pa.string()))
    return _scatter(count, done_rows, done_e164), _scatter(count, done_rows, done_country)
