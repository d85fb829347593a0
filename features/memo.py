"""Work shared inside one run: equal inputs give equal features and fits, so a backtest that
meets the same inputs at many origins computes them once.

Outside `sharing()` nothing is kept. Inside, values are returned to every caller that asks with
equal inputs, so callers must not change them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import joblib
import pandas as pd

T = TypeVar("T")
# Fitted members of a few dozen origins and their design matrices: tens of megabytes.
MAX_ENTRIES = 256
_store: ContextVar[OrderedDict[str, Any] | None] = ContextVar("threatcast_memo", default=None)


@contextmanager
def sharing() -> Iterator[None]:
    """Keep computed values (least recently used first out) until the block ends."""
    token = _store.set(OrderedDict())
    try:
        yield
    finally:
        _store.reset(token)


def fingerprint(*parts: Any) -> str:
    """A digest of the inputs' contents (data frames, arrays, dataclasses, functions).

    Frames are hashed by their values, index and columns: equal frames cut from different
    parents pickle differently (their indexes keep the parents' unused levels).
    """
    return str(joblib.hash([_contents(part) for part in parts]))


def _contents(part: Any) -> Any:
    if isinstance(part, pd.DataFrame | pd.Series):
        columns = list(part.columns) if isinstance(part, pd.DataFrame) else [part.name]
        rows = pd.util.hash_pandas_object(part, index=True).to_numpy()
        dtypes = part.dtypes if isinstance(part, pd.DataFrame) else [part.dtype]
        return ("frame", columns, [str(t) for t in dtypes], rows)
    return part


def reuse(key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """`compute()`, or the value an earlier call with an equal key computed while sharing."""
    store = _store.get()
    if store is None:
        return compute()
    digest = fingerprint(*key)
    if digest in store:
        store.move_to_end(digest)
        value: T = store[digest]
        return value
    value = compute()
    store[digest] = value
    if len(store) > MAX_ENTRIES:
        store.popitem(last=False)
    return value


def active() -> bool:
    return _store.get() is not None
