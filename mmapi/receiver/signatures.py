"""Signature checks of webhook bodies: Meta's `X-Hub-Signature-256` and 360dialog's header.

Both are an HMAC-SHA256 of the raw body. Meta's header is `sha256=<hex>`, exactly what
`mmapi.webhooks.sign_body` makes. 360dialog documents its optional `x-360dialog-signature` as
an HMAC-SHA256 with the partner secret but not its exact text (DOMAIN.md section 4:
unconfirmed), so both `<hex>` and `sha256=<hex>` are accepted, in any letter case. Digests use
`hmac.digest` (one C call, several times faster than an `hmac.new` object on the hot path)
and are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

__all__ = ["verify_d360_signature", "verify_hub_signature"]

_PREFIX = "sha256="


def _hex_digest(body: bytes, secret: SecretStr) -> str:
    return hmac.digest(secret.get_secret_value().encode(), body, hashlib.sha256).hex()


def verify_hub_signature(body: bytes, header: str | None, secret: SecretStr) -> bool:
    """Whether `X-Hub-Signature-256` is `sha256=` + the body's HMAC with the app secret.

    Example:
        >>> from mmapi.webhooks import sign_body
        >>> verify_hub_signature(b"{}", sign_body(b"{}", "k"), SecretStr("k"))
        True
    """
    if not header:
        return False
    return hmac.compare_digest(_PREFIX + _hex_digest(body, secret), header.strip())


def verify_d360_signature(body: bytes, header: str | None, secret: SecretStr) -> bool:
    """Whether `x-360dialog-signature` is the body's HMAC-SHA256 hex digest (constant time).

    Example:
        >>> secret = SecretStr("k")
        >>> digest = hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()
        >>> verify_d360_signature(b"{}", "SHA256=" + digest.upper(), secret)
        True
    """
    if not header:
        return False
    given = header.strip().lower()
    if given.startswith(_PREFIX):
        given = given[len(_PREFIX) :]
    return hmac.compare_digest(_hex_digest(body, secret), given)
