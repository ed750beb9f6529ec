"""Errors of extract and prepare: the warehouse, the segment, and the spec against the template.

Exception tree::

    SpecError (mmapi.campaign, a ValueError)
    └── TemplateMismatchError       the spec's parameters do not fit the template or the segment
    ExtractError                    the segment could not be read (query failed, file missing)
    └── WarehouseUnreachableError   the warehouse did not answer or could not be opened

These are input errors, not API errors, so they sit beside the campaign spec (whose
`SpecError` they extend) rather than under `mmapi.errors.MMAPIError`, whose classes carry an
API request. Every message is one line and never holds a password.
"""

from __future__ import annotations

from ..campaign import SpecError

__all__ = ["ExtractError", "TemplateMismatchError", "WarehouseUnreachableError"]


class TemplateMismatchError(SpecError):
    """Raised when the spec's parameters do not fit the template or the segment's columns."""


class ExtractError(RuntimeError):
    """Raised when the segment cannot be read: bad query, missing file, unusable column."""


class WarehouseUnreachableError(ExtractError):
    """Raised when the warehouse cannot be reached or opened (network, auth, lock, no file)."""
