"""What each kind of job is asked to do: validated when it is queued, typed when it runs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from events.series import DETECT_SOURCE, FileSource
from training.config import TrainingConfig

PromoteMode = Literal["never", "gate", "always"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Training(_Params):
    """What every training job says: the config, the data cutoff, whether to force it."""

    config: TrainingConfig = TrainingConfig()
    as_of: str | None = Field(default=None, description="Data cutoff; default the newest data.")
    force: bool = False


class TrainParams(_Training):
    """Fit, backtest and register a candidate of the config's series."""

    kind: Literal["train"] = "train"


class RetrainParams(_Training):
    """Ingest a data file first (if given), train, and promote as `promote` says."""

    kind: Literal["retrain"] = "retrain"
    events: str | None = Field(default=None, description="A data file to ingest first.")
    source: FileSource = DETECT_SOURCE
    promote: PromoteMode = "gate"
    # The job's own copy of an upload: removed once stored or refused.
    uploaded: bool = False
    replace: bool = False


class PromoteParams(_Params):
    """Make a version its series' champion and issue its forecasts."""

    kind: Literal["promote"] = "promote"
    version: str = Field(max_length=64)
    reason: str = Field(max_length=500)


class RollbackParams(_Params):
    """Return a series to its previous champion and issue its forecasts."""

    kind: Literal["rollback"] = "rollback"
    series: str = Field(max_length=40)
    reason: str = Field(max_length=500)


JobParams = Annotated[
    TrainParams | RetrainParams | PromoteParams | RollbackParams, Field(discriminator="kind")
]
JOB_KINDS = ("train", "retrain", "promote", "rollback")
_ADAPTER: TypeAdapter[JobParams] = TypeAdapter(JobParams)


def parse_params(kind: str, stored: dict[str, Any]) -> JobParams:
    """A stored job's parameters; ValueError names what does not fit its kind."""
    try:
        return _ADAPTER.validate_python({**stored, "kind": kind})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ValueError(f"job parameters do not fit a {kind} job: {problems}") from None


def stored_params(params: JobParams) -> dict[str, Any]:
    """As the jobs table keeps them (the kind has its own column)."""
    return params.model_dump(mode="json", exclude={"kind"})
