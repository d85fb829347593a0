"""Work shared inside one backtest: equal inputs, one computation; nothing kept outside."""

from __future__ import annotations

import pandas as pd
import pytest

from features import memo


def test_equal_frames_cut_from_different_parents_share_one_value() -> None:
    long = pd.DataFrame({"x": range(10)}, index=pd.Index(list("abcdefghij"), name="k"))
    short = long.iloc[:6]
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with memo.sharing():
        first = memo.reuse(("rows", long.iloc[:3]), compute)
        again = memo.reuse(("rows", short.iloc[:3]), compute)
        other = memo.reuse(("rows", long.iloc[:4]), compute)
    assert (first, again, other) == (1, 1, 2)
    assert memo.fingerprint(long.iloc[:3]) != memo.fingerprint(long.iloc[:3].astype(float))
    # Outside a sharing block nothing is kept: every call computes.
    assert memo.reuse(("rows", long.iloc[:3]), compute) == 3
    assert not memo.active()


def test_the_least_recently_used_value_leaves_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo, "MAX_ENTRIES", 2)
    computed: list[str] = []

    def value(key: str) -> str:
        computed.append(key)
        return key

    with memo.sharing():
        for key in ("a", "b", "a", "c", "a", "b"):
            memo.reuse((key,), lambda key=key: value(key))
    # "b" was the least recently used when "c" came in, so only it is computed again.
    assert computed == ["a", "b", "c", "b"]
