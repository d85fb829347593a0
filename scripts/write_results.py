"""Write docs/results.md from the backtest reports under docs/, so its figures are the reports'.

    .venv/bin/python scripts/write_results.py          # rewrite docs/results.md
    .venv/bin/python scripts/write_results.py --check  # exit 1 if it is out of date
    .venv/bin/python scripts/write_results.py --commands | bash  # make every report again

Each report is made by the `threatcast backtest` command shown above its tables.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
RESULTS = DOCS / "results.md"
MAIN, REFERENCES = "ensemble", ("recent", "climatology", "last_value_poisson")
NAMES = {
    "ensemble": "**ThreatCast ensemble**",
    "recent": "recent (trailing 12 months)",
    "climatology": "climatology (trailing 120 months)",
    "last_value_poisson": "last-value Poisson",
}
DISTRICT_NAMES = {
    **NAMES,
    "ensemble": "**ThreatCast ensemble, reconciled**",
    "ensemble-own": "district models before reconciling",
    "province_split": "province forecast split by the district's share (trailing 120 months)",
}
DISTRICT_REFERENCES = (
    "ensemble-own",
    "recent",
    "climatology",
    "province_split",
    "last_value_poisson",
)
WEEKLY_NAMES = {
    **NAMES,
    "recent": "recent (trailing 52 weeks)",
    "climatology": "climatology (trailing 520 weeks)",
}
ELECTION_METRICS = (
    ("brier", "Brier", 4),
    ("calibration_error", "ECE", 3),
    ("severe_brier", "severe Brier", 4),
    ("pinball", "pinball", 3),
    ("rps", "RPS", 3),
)
POOLED = (
    ("brier", "Brier of `p_event`", 4),
    ("brier_skill", "Brier skill vs climatology", 3),
    ("roc_auc", "ROC AUC", 3),
    ("calibration_error", "calibration error (ECE)", 3),
    ("severe_brier", "severe-{period} Brier", 4),
    ("pinball", "mean pinball loss (0.1/0.5/0.9)", 3),
    ("coverage_p10_p90", "p10-p90 coverage", 3),
    ("pit_coverage_p10_p90", "p10-p90 coverage of randomized PITs", 3),
    ("mae", "MAE of `expected_events`", 3),
    ("rps", "RPS of the count law", 3),
    ("fatality_rps", "RPS of fatalities", 2),
    ("fatality_coverage_p10_p90", "fatalities p10-p90 coverage", 3),
)
GROUPS = {"ttp": "TTP", "iskp": "ISKP / Islamic State", "baloch": "Baloch separatists"}
REGION_METRICS = (("brier", "Brier"), ("severe_brier", "severe Brier"), ("pinball", "pinball"))
# The best published peer's Brier on the 2016-2021 rows (h=1, 3, 6, pooled): the targets the
# forecasting issue set. They are not in a report, so they are named as such.
PEER_2016_2021 = {"1": 0.1223, "3": 0.1349, "6": 0.1463, "all": 0.1356}


@dataclass(frozen=True)
class Window:
    directory: str
    title: str
    command: str
    note: str
    reading: str = ""
    weekly: bool = False
    districts: bool = False

    @property
    def names(self) -> dict[str, str]:
        return DISTRICT_NAMES if self.districts else WEEKLY_NAMES if self.weekly else NAMES

    @property
    def references(self) -> tuple[str, ...]:
        return DISTRICT_REFERENCES if self.districts else REFERENCES


WINDOWS = (
    Window(
        "backtest",
        "GED 22.1, origins 2016-01 to 2021-12 (the standard backtest)",
        "threatcast backtest --events events/data/events/ucdp_ged_22.1_pakistan_hdx.csv.gz "
        "--start 2016-01 --end 2021-12 --horizons 1,3,6 --output forecasts.csv "
        "--report docs/backtest",
        "The window the product's targets are set on.",
        "Khyber Pakhtunkhwa had an event in almost every month, so its `p_event` Brier is small "
        "for any model; what matters there is the count and the severe-month forecast. Islamabad "
        "and Gilgit-Baltistan were almost always quiet: nothing beats that. The gains are in the "
        "provinces where violence came and went (Balochistan, AJK, Sindh, Punjab) and in the "
        "count forecasts of the busiest.",
    ),
    Window(
        "backtest-2010-2015",
        "GED 22.1, origins 2010-01 to 2015-12",
        "threatcast backtest --events events/data/events/ucdp_ged_22.1_pakistan_hdx.csv.gz "
        "--start 2010-01 --end 2015-12 --horizons 1,3,6 --output forecasts.csv "
        "--report docs/backtest-2010-2015",
        "Model choices are kept only when they hold up here too: the scored window must not be "
        "the only judge.",
        "In this window, the peak and decline of the TTP insurgency, the trailing-12-month share "
        "is still a little better on `p_event` Brier at 3 and 6 months ahead (the ensemble is "
        "better at 1); the ensemble is better calibrated and its count and fatality forecasts "
        "are much better.",
    ),
    Window(
        "backtest-ged-20.1",
        "GED 20.1 (an older release), origins 2014-01 to 2019-12",
        "threatcast backtest --events events/data/events/ucdp_ged_20.1_pakistan_webexport.csv.gz "
        "--start 2014-01 --end 2019-12 --horizons 1,3,6 --output forecasts.csv "
        "--report docs/backtest-ged-20.1",
        "Never used to choose anything: a check on another coding of the same years.",
    ),
    Window(
        "backtest-districts",
        "Districts: GED 22.1, origins 2016-01 to 2021-12",
        "threatcast backtest --events events/data/events/ucdp_ged_22.1_pakistan_hdx.csv.gz "
        "--level adm2 --start 2016-01 --end 2021-12 --horizons 1,3,6 --output forecasts.csv "
        "--report docs/backtest-districts",
        "The 126 districts and each province's unplaced remainder. The published forecast splits "
        "the province model's law by the district models' shares (see the model card); the "
        "district models' own forecasts are scored beside it.",
        districts=True,
    ),
    Window(
        "backtest-districts-2010-2015",
        "Districts: GED 22.1, origins 2010-01 to 2015-12",
        "threatcast backtest --events events/data/events/ucdp_ged_22.1_pakistan_hdx.csv.gz "
        "--level adm2 --start 2010-01 --end 2015-12 --horizons 1,3,6 --output forecasts.csv "
        "--report docs/backtest-districts-2010-2015",
        "The second window district choices are judged on.",
        districts=True,
    ),
    Window(
        "backtest-districts-ged-20.1",
        "Districts: GED 20.1, origins 2014-01 to 2019-12",
        "threatcast backtest --events events/data/events/ucdp_ged_20.1_pakistan_webexport.csv.gz "
        "--level adm2 --start 2014-01 --end 2019-12 --horizons 1,3,6 --output forecasts.csv "
        "--report docs/backtest-districts-ged-20.1",
        "Another release's coding of those years.",
        districts=True,
    ),
    Window(
        "backtest-week",
        "Weekly: GED 22.1, origins 2016-W01 to 2021-W52",
        "threatcast backtest --events events/data/events/ucdp_ged_22.1_pakistan_hdx.csv.gz "
        "--freq week --start 2016-W01 --end 2021-W52 --horizons 1,2,4,8 --output forecasts.csv "
        "--report docs/backtest-week",
        "The weekly series of the standard window, one to eight weeks ahead, against the weekly "
        "references.",
        weekly=True,
    ),
    Window(
        "backtest-week-2010-2015",
        "Weekly: GED 22.1, origins 2010-W01 to 2015-W53",
        "threatcast backtest --events events/data/events/ucdp_ged_22.1_pakistan_hdx.csv.gz "
        "--freq week --start 2010-W01 --end 2015-W53 --horizons 1,2,4,8 --output forecasts.csv "
        "--report docs/backtest-week-2010-2015",
        "The second window weekly choices are judged on.",
        weekly=True,
    ),
    Window(
        "backtest-week-ged-20.1",
        "Weekly: GED 20.1, origins 2014-W01 to 2019-W52",
        "threatcast backtest --events events/data/events/ucdp_ged_20.1_pakistan_webexport.csv.gz "
        "--freq week --start 2014-W01 --end 2019-W52 --horizons 1,2,4,8 --output forecasts.csv "
        "--report docs/backtest-week-ged-20.1",
        "Another release's coding of those years.",
        weekly=True,
    ),
)


def _number(value: object, digits: int) -> str:
    number = float(str(value))
    return "n/a" if number != number else f"{number:.{digits}f}"


def _window(window: Window) -> list[str]:
    directory = DOCS / window.directory
    rows = json.loads((directory / "metrics.json").read_text())
    by = {(r["model"], r["horizon"]): r for r in rows}
    horizons = sorted({r["horizon"] for r in rows if r["horizon"] != "all"}, key=int)
    models = [m for m in (MAIN, *window.references) if (m, "all") in by]
    names = window.names
    lines = [f"## {window.title}", "", window.note, "", "```bash", window.command, "```", ""]
    scored = int(by[(MAIN, "all")]["n"])
    unit = "weeks" if window.weekly else "months"
    lines += [f"{scored:,} scored {'unit' if window.districts else 'region'}-{unit}.", ""]
    header = " | ".join(f"h={h}" for h in horizons)
    lines += [f"| Brier of `p_event` | {header} | pooled |", "|---" * (len(horizons) + 2) + "|"]
    for model in models:
        cells = " | ".join(_number(by[(model, h)]["brier"], 4) for h in (*horizons, "all"))
        lines.append(f"| {names[model]} | {cells} |")
    if window.directory == "backtest":
        cells = " | ".join(f"{PEER_2016_2021[h]:.4f}" for h in (*horizons, "all"))
        lines.append(f"| best published peer on these rows (target) | {cells} |")
    lines += ["", "| pooled | " + " | ".join(names[m].strip("*") for m in models) + " |"]
    lines.append("|---" * (len(models) + 1) + "|")
    for key, label, digits in POOLED:
        cells = " | ".join(_number(by[(m, "all")].get(key, "nan"), digits) for m in models)
        lines.append(f"| {label.format(period=unit[:-1])} | {cells} |")
    lines += ["", *_elections(directory, names, window.references)]
    lines += _strata(directory, names, window.references)
    if window.districts:
        lines += _reconciled_provinces(directory)
    else:
        lines += [*_regions(directory), "", *_actors(directory)]
    if window.reading:
        lines += [window.reading, ""]
    return lines


def _elections(directory: Path, names: dict[str, str], references: tuple[str, ...]) -> list[str]:
    """The forecasts whose target period lies within eight weeks of a general election."""
    path = directory / "metrics_election.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    lines = []
    for election in dict.fromkeys(r["election"] for r in rows):
        by = {(r["model"], r["horizon"]): r for r in rows if r["election"] == election}
        horizons = sorted({h for _, h in by if h != "all"}, key=int)
        title = "every election in the window" if election == "all" else f"the {election} election"
        scored = int(float(by[(MAIN, "all")]["n"]))
        lines += [
            f"Near {title} (target periods within eight weeks of it; {scored:,} scored):",
            "",
            "| | " + " | ".join(f"Brier h={h}" for h in horizons) + " | "
            + " | ".join(f"pooled {label}" for _, label, _ in ELECTION_METRICS) + " |",
            "|---" * (len(horizons) + len(ELECTION_METRICS) + 1) + "|",
        ]  # fmt: skip
        for model in (MAIN, *references):
            if (model, "all") not in by:
                continue
            cells = [_number(by[(model, h)]["brier"], 4) for h in horizons]
            cells += [_number(by[(model, "all")][k], d) for k, _, d in ELECTION_METRICS]
            lines.append(f"| {names[model]} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _strata(directory: Path, names: dict[str, str], references: tuple[str, ...]) -> list[str]:
    """Interval coverage per activity stratum (models.strata): quiet, middle and busy units by
    their mean count before the origin."""
    path = directory / "metrics_by_stratum.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        rows = {(r["model"], r["stratum"]): r for r in csv.DictReader(handle)}
    strata = [s for s in ("quiet", "middle", "busy") if (MAIN, s) in rows]
    lines = [
        "Per activity stratum (units by their mean count over the level window before the origin: "
        "quiet below 0.5, the rest split at their median), all horizons: p10-p90 coverage of "
        "whole counts / of randomized PITs (the calibration: 0.80 for a true law), and pinball:",
        "",
        "| | " + " | ".join(f"{s} ({int(float(rows[(MAIN, s)]['n'])):,})" for s in strata) + " |",
        "|---" * (len(strata) + 1) + "|",
    ]
    for model in (MAIN, *references):
        if (model, strata[0]) not in rows:
            continue
        cells = " | ".join(
            f"{_number(rows[(model, s)]['coverage_p10_p90'], 2)} / "
            f"{_number(rows[(model, s)]['pit_coverage_p10_p90'], 2)} / "
            f"{_number(rows[(model, s)]['pinball'], 3)}"
            for s in strata
        )
        lines.append(f"| {names[model]} | {cells} |")
    return [*lines, ""]


def _reconciled_provinces(directory: Path) -> list[str]:
    """The province scores of the reconciled forecasts: the province model's own, since the
    districts split its law (`provinces/` beside the district report)."""
    rows = json.loads((directory / "provinces" / "metrics.json").read_text())
    pooled = next(r for r in rows if r["model"] == MAIN and r["horizon"] == "all")
    cells = " | ".join(
        _number(pooled[k], d) for k, d in (("brier", 4), ("severe_brier", 4), ("rps", 3))
    )
    return [
        "The districts and remainders add up to the province forecast they split, so the "
        "reconciled province forecasts are the province model's (`provinces/` beside the "
        "report):",
        "",
        "| reconciled provinces, pooled | Brier | severe Brier | RPS |",
        "|---|---|---|---|",
        f"| **ThreatCast ensemble** | {cells} |",
        "",
    ]


def _regions(directory: Path) -> list[str]:
    with (directory / "metrics_by_region.csv").open() as handle:
        rows = {(r["model"], r["region"]): r for r in csv.DictReader(handle)}
    regions = sorted({region for _, region in rows})
    lines = [
        "Per province, all horizons (ensemble / recent):",
        "",
        "| | " + " | ".join(regions) + " |",
        "|---" * (len(regions) + 1) + "|",
    ]
    for key, label in REGION_METRICS:
        cells = " | ".join(
            f"{_number(rows[(MAIN, r)][key], 3)} / {_number(rows[('recent', r)][key], 3)}"
            for r in regions
        )
        lines.append(f"| {label} | {cells} |")
    coverage = " | ".join(
        f"{_number(rows[(MAIN, r)]['coverage_p10_p90'], 2)} / "
        f"{_number(rows[(MAIN, r)]['pit_coverage_p10_p90'], 2)}"
        for r in regions
    )
    lines.append(f"| ensemble p10-p90 coverage, whole counts / PITs | {coverage} |")
    return lines


def _actors(directory: Path) -> list[str]:
    """Per actor group, pooled over horizons: P(an event of the group) against the group's own
    trailing references."""
    path = directory / "actor_metrics.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        rows = {
            (r["model"], r["group"]): r for r in csv.DictReader(handle) if r["horizon"] == "all"
        }
    lines = [
        "Per actor group, all horizons: Brier of P(at least one event of the group), and its "
        "calibration error, against the group's own trailing shares (`actor_metrics.csv`):",
        "",
        "| group | ensemble | recent | climatology | ensemble ECE | recent ECE | months with the group's events |",
        "|---|---|---|---|---|---|---|",
    ]
    for group, name in GROUPS.items():
        if (MAIN, group) not in rows:
            continue
        brier = [_number(rows[(m, group)]["brier"], 4) for m in (MAIN, "recent", "climatology")]
        ece = [_number(rows[(m, group)]["calibration_error"], 3) for m in (MAIN, "recent")]
        rate = _number(rows[(MAIN, group)]["observed_rate"], 3)
        lines.append(f"| {name} | {' | '.join(brier)} | {' | '.join(ece)} | {rate} |")
    return [*lines, ""]


def render() -> str:
    lines = [
        "# Backtest results",
        "",
        "Written by `scripts/write_results.py` from the reports under `docs/`; do not edit by hand.",
        "Every model is fitted at every origin on data up to that origin only (see "
        "[the model card](model.md)). `docs/*/metrics_by_region.csv` has every metric per "
        "province; `reliability.png` and `regions.png` beside each report show calibration and "
        "forecasts against outcomes. Re-running a command on another CPU gives the same figures "
        "to about the fourth decimal (floating-point sums in the model fits differ).",
        "",
    ]
    for window in WINDOWS:
        if (DOCS / window.directory / "metrics.json").exists():
            lines += _window(window)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if docs/results.md is stale")
    parser.add_argument(
        "--commands", action="store_true", help="print the commands that make every report"
    )
    args = parser.parse_args()
    if args.commands:
        # Run from the project root, each into a scratch forecast file; stop at the first failure.
        lines = [f"set -e; cd {DOCS.parent}; scratch=$(mktemp -d); PATH=.venv/bin:$PATH"]
        lines += [w.command.replace("forecasts.csv", '"$scratch/forecasts.csv"') for w in WINDOWS]
        sys.stdout.write("\n".join([*lines, "python scripts/write_results.py", ""]))
        return
    text = render()
    if args.check:
        if not RESULTS.exists() or RESULTS.read_text() != text:
            sys.exit("docs/results.md is out of date: run scripts/write_results.py")
        return
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
