"""Per-actor-group scores of a backtest: Brier and calibration of P(at least one event of the
group), for the main model and the group's own trailing references."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.metrics import expected_calibration_error
from training.scores import brier


def actor_metrics(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model, group and horizon (and 'all'): n, Brier, calibration error, the mean
    forecast and the observed rate. Empty when no model forecast actor groups."""
    if "actors" not in results:
        return pd.DataFrame()
    rows = []
    with_groups = results[results["actors"].map(lambda a: isinstance(a, dict) and bool(a))]
    for model, part in with_groups.groupby("model", sort=True):
        groups = sorted(part["actors"].iloc[0])
        for group in groups:
            observed = f"observed_events_{group}"
            if observed not in part:
                continue
            known = part.dropna(subset=[observed])
            p = known["actors"].map(lambda a, g=group: a[g]["p_event"]).to_numpy(dtype=float)
            occurred = (known[observed].to_numpy(dtype=float) > 0).astype(float)
            keep = ~np.isnan(p)
            for horizon, mask in [
                *(
                    (str(h), (known["horizon"] == h).to_numpy())
                    for h in sorted(known["horizon"].unique())
                ),
                ("all", np.ones(len(known), dtype=bool)),
            ]:
                chosen = mask & keep
                if not chosen.any():
                    continue
                rows.append(
                    {
                        "model": model,
                        "group": group,
                        "horizon": horizon,
                        "n": int(chosen.sum()),
                        "brier": brier(p[chosen], occurred[chosen]),
                        "calibration_error": expected_calibration_error(
                            p[chosen], occurred[chosen]
                        ),
                        "mean_p_event": float(np.mean(p[chosen])),
                        "observed_rate": float(np.mean(occurred[chosen])),
                    }
                )
    return pd.DataFrame(rows)
