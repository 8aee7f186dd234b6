"""report.json's schema as pydantic models on one base that refuses unknown keys; the one metric
table that the gate and the comparison both read; typed verdicts."""
