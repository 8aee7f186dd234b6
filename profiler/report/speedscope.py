"""The flame graph of a py-spy profile, as a speedscope file (https://www.speedscope.app)."""

from __future__ import annotations

from profiler.analysis.attribution.stacks import CodeProfile, parse_frame

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"


def collapsed_to_speedscope(profile: CodeProfile, name: str) -> dict[str, object]:
    """A speedscope file (one "sampled" profile) to open at https://www.speedscope.app."""
    frame_index: dict[str, int] = {}
    frames: list[dict[str, object]] = []
    samples: list[list[int]] = []
    weights: list[int] = []
    for stack, count in profile.stacks:
        indices: list[int] = []
        for text in stack:
            if text not in frame_index:
                frame_index[text] = len(frames)
                frames.append(_frame_entry(text))
            indices.append(frame_index[text])
        samples.append(indices)
        weights.append(count)
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "name": name,
        "exporter": "profiler",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": [
            {
                "type": "sampled",
                "name": name,
                "unit": "none",
                "startValue": 0,
                "endValue": profile.total_samples,
                "samples": samples,
                "weights": weights,
            }
        ],
    }


def _frame_entry(text: str) -> dict[str, object]:
    """speedscope's frame: name, file and line where py-spy's text has them, else the text."""
    parsed = parse_frame(text)
    if parsed is None:
        return {"name": text}
    entry: dict[str, object] = {"name": parsed.name, "file": parsed.file}
    if parsed.line is not None:
        entry["line"] = parsed.line
    return entry
