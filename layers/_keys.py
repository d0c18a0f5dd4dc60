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
    """Position of each value in ``keys`` (first occurrence); -1 where absent or missing."""
    idx = pc.index_in(strings(values), value_set=strings(keys))
    return pc.fill_null(idx, -1).to_numpy().astype(np.int64)


def isin(values, keys) -> np.ndarray:
    """Boolean mask: which ``values`` occur in ``keys`` (missing values never do)."""
    return pc.fill_null(pc.is_in(strings(values), value_set=strings(keys)), False).to_numpy(
        zero_copy_only=False)


def take(values: pa.Array, idx: np.ndarray) -> np.ndarray:
    """``values[idx]`` as an object array of Python strings."""
    return np.asarray(values.take(pa.array(idx, type=pa.int64())).to_pylist(), dtype=object)
