"""What a run tells its user at the end: the summary, the --json record, the batch table."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from docgen.markdown.wordcount import length_score

if TYPE_CHECKING:  # the real imports bring httpx, which --dry-run and --help never need
    from docgen.write.batch import JobResult
    from docgen.write.document import WriteResult


def cost(prompt_tokens: int, completion_tokens: int, prices: tuple[float | None, float | None]) -> float | None:
    """What the tokens cost at ``prices`` per million (prompt, completion); None unless both are known."""
    price_in, price_out = prices
    if price_in is None or price_out is None:
        return None
    return round((prompt_tokens * price_in + completion_tokens * price_out) / 1e6, 6)


def summarize(
    result: WriteResult, *, target: int | None, prices: tuple[float | None, float | None] = (None, None)
) -> dict[str, Any]:
    """The ``--json`` record of a WriteResult, with headings, the length score and the cost added."""
    summary: dict[str, Any] = asdict(result)
    summary["cost"] = cost(result.prompt_tokens, result.completion_tokens, prices)
    summary["headings"] = len(summary["markdown"].get("headings", []))
    summary["target_words"] = target
    summary["length_score"] = round(length_score(target, result.words), 1) if target else None
    return summary


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The human summary printed on stderr."""
    tokens = f", {summary['tokens']:,} tokens" if summary["tokens"] is not None else ""
    n = summary["continuations"]
    conts = f", {n} continuation{'s' * (n != 1)}" if n else ""
    n = summary.get("retries", 0)
    conts += f", {n} retr{'ies' if n != 1 else 'y'}" if n else ""
    resumed = " (resumed)" if summary.get("resumed") else ""
    lines = [
        f"wrote {summary['path']}: {summary['words']:,} words{tokens}{conts}, {summary['headings']} headings "
        f"in {summary['seconds']:.1f}s (finish: {summary['finish_reason']}){resumed}"
    ]
    if summary["target_words"]:
        lines.append(
            f"length score {summary['length_score']:.0f}/100 "
            f"({summary['words']:,} of {summary['target_words']:,} words)"
        )
    for section in summary["sections"]:
        lines.append(f"  {section['words']:>6,} / {section['budget']:<6,} words  {section['title']}")
    if summary.get("prompt_tokens") or summary.get("completion_tokens"):
        estimated = " (estimated in part: the server did not count every request)"
        estimated = estimated if summary["tokens_estimated"] else ""
        spent = f"; cost {summary['cost']:.4f}" if summary.get("cost") is not None else ""
        lines.append(
            f"tokens: {summary['prompt_tokens']:,} prompt + {summary['completion_tokens']:,} completion "
            f"over the run{estimated}{spent}"
        )
    lines += [f"fixed: {fixed}" for fixed in summary["markdown"].get("fixed", [])]
    warnings = [*summary["warnings"], *summary["markdown"].get("warnings", [])]
    lines += [f"warning: {warning}" for warning in warnings]
    return lines


def batch_table(results: list[JobResult], prices: tuple[float | None, float | None] = (None, None)) -> list[str]:
    """One line per job (status, words, tokens, continuations, retries, seconds, name, error), then the totals."""
    lines = [f"{'status':9} {'words':>7} {'tokens':>7} {'conts':>5} {'retries':>7} {'seconds':>8}  job"]
    for r in results:
        tokens = "-" if r.tokens is None else f"{r.tokens:,}"
        lines.append(
            f"{r.status:9} {r.words:>7,} {tokens:>7} {r.continuations:>5} {r.retries:>7} {r.seconds:>8.1f}  {r.name}"
            + (f"  ({r.error})" if r.error else "")
        )
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    order = [("done", "written"), ("skipped", "up to date"), ("stale", "stale"), ("failed", "failed")]
    order += [("cancelled", "cancelled"), ("pending", "not started")]
    parts = [f"{counts[key]} {label}" for key, label in order if counts.get(key)]
    words = sum(r.words for r in results if r.status == "done")
    prompt, completion = sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results)
    spent = cost(prompt, completion, prices)
    tokens = f"; {prompt:,} prompt + {completion:,} completion tokens" if prompt or completion else ""
    lines.append(
        f"{len(results)} jobs: "
        + ", ".join(parts)
        + f"; {words:,} words written{tokens}"
        + (f"; cost {spent:.4f}" if spent is not None else "")
    )
    return lines
