"""The base of every report.json model: unknown keys are refused, so a misspelt field fails loudly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
