"""What ``docgen check`` prints: the probe's report as short lines, or as JSON."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from docgen.errors import redact
from docgen.server.probe import ProbeReport


def describe(report: ProbeReport) -> list[str]:
    """The report as short lines for a person."""

    def yes(flag: bool | None) -> str:
        return "unknown" if flag is None else "yes" if flag else "no"

    lines = [f"server         {redact(report.base_url)}"]
    if report.models_seconds is not None:
        lines.append(
            f"models         {', '.join(report.models) or '(none)'} "
            f"(owned by {report.owned_by or '?'}; {report.models_seconds * 1000:.0f} ms)"
        )
    if report.finish_reason is not None:
        ttft = f"{report.first_token_seconds:.2f} s" if report.first_token_seconds is not None else "no token"
        lines += [
            f"stream         first token after {ttft}; finish_reason {report.finish_reason}; usage {yes(report.usage)}",
            f"stream_options {'accepted' if report.stream_options else 'refused'}",
            f"reasoning      {'seen' if report.reasoning else 'none seen'}",
        ]
    if report.modes:
        others = ", ".join(f"{mode}: {yes(ok)}" for mode, ok in report.modes.items() if mode != "prefill")
        lines += [
            f"prefill        {yes(report.prefill)} (a plain final assistant message is continued)",
            f"other modes    {others}",
            f"continue mode  {report.continue_mode}",
        ]
    if report.error:
        lines.append(f"error          {report.error}")
    return lines


def as_dict(report: ProbeReport) -> dict[str, Any]:
    return {**asdict(report), "base_url": redact(report.base_url), "prefill": report.prefill}
