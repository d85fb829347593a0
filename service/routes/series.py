"""The forecast series the store holds: what each covers, its gaps, its age and its champion."""

from __future__ import annotations

from fastapi import APIRouter

from service.coverage import summarize
from service.dependencies import ReaderDep, ServerDep, SettingsDep
from service.freshness import today
from service.schemas import SeriesListPublic, SeriesPublic, SpanPublic
from service.serving import IssueServer
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["series"])


@router.get("/series", response_model=SeriesListPublic)
def list_series(server: ServerDep, settings: SettingsDep, _: ReaderDep) -> SeriesListPublic:
    """Every series (country x source x frequency) with data: its covered spans, the gaps no
    source covers (missing, not quiet), how old its data is, and which version serves it."""
    return server.checks.get(  # type: ignore[return-value]
        ("series", today()), lambda: _series_list(server, settings)
    )


def _series_list(server: IssueServer, settings: Settings) -> SeriesListPublic:
    served = {key: (issue.version, issue.origin) for key, issue in server.served().items()}
    summaries = summarize(server.coverage(), settings.stale_after_days, served)
    data = [
        SeriesPublic(
            **{
                **row.to_dict(),
                "spans": {
                    unit: [SpanPublic(first=a, last=b) for a, b in spans]
                    for unit, spans in row.spans.items()
                },
                "gaps": [SpanPublic(first=a, last=b) for a, b in row.gaps],
            }
        )
        for row in summaries
    ]
    return SeriesListPublic(data=data, count=len(data), default_series=settings.default_series)
