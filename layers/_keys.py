"""Fast lookups of string keys (codes, ids) with Arrow's C++ hash kernels.

pandas 3's ``ArrowStringArray.isin`` turns its value set into a Python list first, which takes
seconds for the millions of codes of a city-scale store; these helpers stay in Arrow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def strings(values: pd.Series | np.ndarray | pa.Array) -> pa.Array:
    """A string column as one Arrow ``large_string`` array (zero-copy for Arrow-backed
    pandas strings; other values are converted with ``str``, missing ones become null)."""
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks()
    elif isinstance(values, pa.Array):
        arr = values
    elif isinstance(values, pd.Series) and isinstance(values.dtype, pd.StringDtype):
        arr = pa.array(values)
    else:
        s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
        arr = pa.array(s.astype("str"))  # pandas' Arrow-backed strings; missing stays null
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr if arr.type == pa.large_string() else arr.cast(pa.large_string())


def index_in(values, keys) -> np.ndarray:
    """Position of each value in ``keys`` (first occurrence); -1 where absent or missing.

    A few values among many keys (one edited row against a city's 947,287 person ids) are
    found by hashing the values and scanning the keys once, not by hashing every key."""
    values, keys = strings(values), strings(keys)
    if len(values) * 64 < len(keys):
        return _few_in_many(values, keys)
    idx = pc.index_in(values, value_set=keys)
    return pc.fill_null(idx, -1).to_numpy().astype(np.int64)


def _few_in_many(values: pa.Array, keys: pa.Array) -> np.ndarray:
    """:func:`index_in` for few values: each key's position among the distinct values, then
    the first key of each value."""
    distinct = pc.unique(values.drop_null())
    at = pc.fill_null(pc.index_in(keys, value_set=distinct, skip_nulls=True), -1
                      ).to_numpy().astype(np.int64)
    rows = np.flatnonzero(at >= 0)
    first = np.full(len(distinct) + 1, -1, dtype=np.int64)  # the last: not found
    found, where = np.unique(at[rows], return_index=True)  # the first key row of each value
    first[found] = rows[where]
    which = pc.fill_null(pc.index_in(values, value_set=distinct), -1).to_numpy().astype(np.int64)
    out = first[which]
    missing = values.is_null().to_numpy(zero_copy_only=False)
    if missing.any():  # as pc.index_in: a missing value finds the first missing key
        null_keys = np.flatnonzero(keys.is_null().to_numpy(zero_copy_only=False))
        out[missing] = null_keys[0] if len(null_keys) else -1
    return out


def isin(values, keys) -> np.ndarray:
    """Boolean mask: which ``values`` occur in ``keys`` (missing values never do)."""
    return pc.fill_null(pc.is_in(strings(values), value_set=strings(keys)), False).to_numpy(
        zero_copy_only=False)


def take(values: pa.Array, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` as an object array of Python strings."""
    return np.asarray(values.take(pa.array(idx, type=pa.int64())).to_pylist(), dtype=object)


class LookupMemo:
    """:func:`index_in` that remembers: a column looked up again after an edit is looked up
    only where it changed.

    Each lookup is named; the memo keeps, per name, the column and keys it was last given
    and the position found for each row asked for. The next call with the same keys compares
    the new column with the old one (a vectorised string comparison, milliseconds for
    millions of rows) and hashes only the rows asked for that are new, changed or not
    resolved before: after one assignment is added to a city's two million, one row. Any
    other change of the keys starts afresh. Answers are exactly :func:`index_in`'s.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[pa.Array, pa.Array, np.ndarray]] = {}

    def index_in(self, keys: pa.Array, requests: dict[str, tuple[pa.Array, np.ndarray | None]]
                 ) -> dict[str, np.ndarray]:
        """Position in ``keys`` of each request's ``values[rows]``; -1 where absent.

        Parameters
        ----------
        keys
            An Arrow string array (:func:`strings`), hashed once for every request.
        requests
            Name of the lookup (the memo keeps one state per name) → ``(values, rows)``:
            ``values`` is the whole column (an Arrow string array), so rows keep their meaning
            from one call to the next; ``rows`` the integer positions wanted, ``None`` for all.

        Returns
        -------
        dict
            Name → positions. For ``rows=None`` the array is the memo's own: read it, do
            not change it.
        """
        todo: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, (values, rows) in requests.items():
            found = self._carried_over(name, values, keys)
            todo[name] = (found, np.flatnonzero(found == _UNRESOLVED) if rows is None
                          else rows[found[rows] == _UNRESOLVED])
            self._seen[name] = (values, keys, found)
        _resolve_together(keys, {n: (requests[n][0], *todo[n]) for n in todo})
        # all rows: the memo's own array (only its unresolved rows are ever written again)
        return {name: todo[name][0] if rows is None else todo[name][0][rows]
                for name, (_, rows) in requests.items()}

    def _carried_over(self, name: str, values: pa.Array, keys: pa.Array) -> np.ndarray:
        """The positions known for ``values`` from the last call: kept for rows equal to the
        row at the same position then, :data:`_UNRESOLVED` elsewhere."""
        seen = self._seen.get(name)
        if seen is None or not (seen[1] is keys or seen[1].equals(keys)):
            return np.full(len(values), _UNRESOLVED, dtype=np.int64)
        old_values, _, old_found = seen
        n = min(len(old_values), len(values))
        if old_values is values or old_values.slice(0, n).equals(values.slice(0, n)):
            # an unchanged layer shares its buffers; an appended one is equal up to n
            if len(values) == n:
                return old_found if len(old_found) == n else old_found[:n].copy()
            return np.concatenate([old_found[:n], np.full(len(values) - n, _UNRESOLVED)])
        found = np.full(len(values), _UNRESOLVED, dtype=np.int64)
        same = pc.fill_null(pc.equal(values.slice(0, n), old_values.slice(0, n)),
                            False).to_numpy(zero_copy_only=False)
        found[:n] = np.where(same, old_found[:n], _UNRESOLVED)
        return found


def _resolve_together(keys: pa.Array,
                      todo: dict[str, tuple[pa.Array, np.ndarray, np.ndarray]]) -> None:
    """Fill ``found[rows]`` with the position of ``values[rows]`` in ``keys`` for every
    ``(values, found, rows)`` of ``todo``, in one :func:`index_in` (one hash of ``keys``)."""
    parts = [(values if rows.size == len(values) else values.take(pa.array(rows, pa.int64())),
              found, rows) for values, found, rows in todo.values() if rows.size]
    if not parts:
        return
    at = index_in(pa.concat_arrays([p[0] for p in parts]), keys)
    start = 0
    for _, found, rows in parts:
        found[rows] = at[start:start + rows.size]
        start += rows.size


#: A row :class:`LookupMemo` has not looked up (absent is -1).
_UNRESOLVED = -2
