"""The one MetaData every package's tables are declared on, so foreign keys between them resolve."""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
