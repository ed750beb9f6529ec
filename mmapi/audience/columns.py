"""Small Arrow helpers shared by prepare and the renderer."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["constant_strings", "scatter"]


def constant_strings(value: str, count: int) -> pa.Array:
    """A string array of `count` copies of `value`, built from raw buffers.

    Ten times faster than `pa.array` of a repeated Python string, which matters when every
    plan row carries the campaign id, template name and language.

    Example:
        >>> constant_strings("mm", 3).to_pylist()
        ['mm', 'mm', 'mm']
    """
    encoded = value.encode()
    if count * len(encoded) >= 2**31:  # 32-bit offsets: fall back for huge arrays
        return pa.array([value] * count, pa.string())
    offsets = np.arange(count + 1, dtype=np.int32) * len(encoded)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(encoded * count))


def scatter(count: int, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """A length-`count` array: `values` in order where `mask` is set, null elsewhere.

    Example:
        >>> import numpy as np
        >>> scatter(3, np.array([True, False, True]), pa.array(["a", "b"])).to_pylist()
        ['a', None, 'b']
    """
    where = np.full(count, -1, dtype=np.int64)
    where[mask] = np.arange(int(mask.sum()))
    return values.take(pa.array(where, mask=where < 0))
