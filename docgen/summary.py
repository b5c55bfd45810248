"""What a run tells its user at the end: the summary, the --json record, the batch table."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from docgen.wordcount import length_score


def summarize(result: Any, *, target: int | None) -> dict[str, Any]:
    """The ``--json`` record of a WriteResult, with headings and the length score added."""
    summary: dict[str, Any] = asdict(result)
    summary["headings"] = len(summary["markdown"].get("headings", []))
    summary["target_words"] = target
    summary["length_score"] = round(length_score(target, result.words), 1) if target else None
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The human summary printed on stderr."""
    tokens = f", {summary['tokens']:,} tokens" if summary["tokens"] is not None else ""
    conts = f", {summary['continuations']} continuations" if summary["continuations"] else ""
    lines = [
        f"wrote {summary['path']}: {summary['words']:,} words{tokens}{conts}, {summary['headings']} headings "
        f"in {summary['seconds']:.1f}s (finish: {summary['finish_reason']})"
    ]
    if summary["target_words"]:
        lines.append(
            f"length score {summary['length_score']:.0f}/100 "
            f"({summary['words']:,} of {summary['target_words']:,} words)"
        )
    for section in summary["sections"]:
        lines.append(f"  {section['words']:>6,} / {section['budget']:<6,} words  {section['title']}")
    lines += [f"fixed: {fixed}" for fixed in summary["markdown"].get("fixed", [])]
    warnings = [*summary["warnings"], *summary["markdown"].get("warnings", [])]
    lines += [f"warning: {warning}" for warning in warnings]
    return lines


def dry_run_text(
    *, base_url: str, output: Any, model: str | None, sampling: dict[str, Any], messages: list[dict[str, Any]]
) -> str:
    """What ``--dry-run`` prints: the prompt, readable, then the exact request body."""
    body = {
        "model": model or "(the server's only model)",
        "stream": True,
        "stream_options": {"include_usage": True},
        **sampling,
        "messages": messages,
    }
    parts = [f"# POST {base_url}/chat/completions -> {output}\n"]
    parts += [f"## {m['role']}\n\n{m['content']}\n" for m in messages]
    parts.append("## request body\n\n" + json.dumps(body, indent=2, ensure_ascii=False))
    return "\n".join(parts)


def batch_table(results: list[Any]) -> list[str]:
    """One line per job: status, words, tokens, seconds, name, and the error if any."""
    lines = [f"{'status':9} {'words':>7} {'tokens':>7} {'seconds':>8}  job"]
    for r in results:
        tokens = "-" if r.tokens is None else f"{r.tokens:,}"
        lines.append(
            f"{r.status:9} {r.words:>7,} {tokens:>7} {r.seconds:>8.1f}  {r.name}"
            + (f"  ({r.error})" if r.error else "")
        )
    return lines
