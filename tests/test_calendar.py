"""Calendar features come from the Hijri calendar library and the election dates."""

from __future__ import annotations

from datetime import date

from events.calendar import calendar_features
from events.gazetteer import default_resolver

ELECTIONS = default_resolver().gazetteers["PAK"].elections


def test_ramadan_2024_spans_march_and_april() -> None:
    # Umm al-Qura: 1 Ramadan 1445 = 11 March 2024, 30 Ramadan = 9 April 2024.
    frame = calendar_features(["2024-02", "2024-03", "2024-04"], "month", ELECTIONS).set_index(
        "period"
    )
    assert frame["ramadan_days"].tolist() == [0, 21, 9]


def test_ashura_and_the_prophets_birthday_fall_in_their_months() -> None:
    frame = calendar_features(["2024-07", "2024-08", "2024-09"], "month", ELECTIONS).set_index(
        "period"
    )
    assert frame["ashura"].tolist() == [1, 0, 0]  # 10 Muharram 1446 = 16 July 2024
    assert frame["muharram_1_10_days"].tolist() == [10, 0, 0]
    assert frame["rabi_al_awwal_12"].tolist() == [0, 0, 1]  # 12 Rabi al-Awwal = 15 Sept 2024


def test_the_2024_election_and_its_window_by_week() -> None:
    weeks = ["2023-W48", "2023-W49", "2024-W06", "2024-W08", "2024-W09"]
    frame = calendar_features(weeks, "week", ELECTIONS).set_index("period")
    assert frame["election"].tolist() == [0, 0, 1, 0, 0]
    # The window opens 60 days before 8 February (10 December, week 49) and closes 14 days after.
    assert frame["election_window"].tolist() == [0, 1, 1, 1, 0]


def test_every_pakistani_general_election_is_known() -> None:
    assert date(2024, 2, 8) in ELECTIONS and date(1988, 11, 16) in ELECTIONS
    assert len(ELECTIONS) == 9
