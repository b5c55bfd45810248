"""The prompts of outline mode: the outline request, and one job per section.

Sequential sections see the end of the text before them, filled in when each one
starts (``with_previous``); parallel sections see the outline and their neighbours'
briefs instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docgen.inputs.grounding import Given, number_them, numbering, source_block, with_sources
from docgen.inputs.jobs import DocumentJob, LongformJob, fingerprint
from docgen.inputs.prompt import chat_messages, slugify
from docgen.inputs.templates import render, resolve_values
from docgen.markdown.outline import Outline

CONTEXT_CHARS = 2500  # how much of the text before a section it sees, in sequential mode
WORDS_PER_SECTION = 1200
OUTLINE_WORDS_PER_SECTION = 60  # a title, a one-sentence brief and a budget line, with room to spare
_PREVIOUS = "{{ previous }}"


def planned_words(job: LongformJob) -> int:
    """The length a planned outline is asked for: --words, else the template's, else 8 sections' worth."""
    return job.words or job.default_words or WORDS_PER_SECTION * 8


def outline_request(job: LongformJob, *, words: int) -> tuple[tuple[dict[str, str], ...], dict[str, Any], int]:
    """The messages that ask for an outline of ``words`` words, the inputs behind them, and
    the most words such an outline needs (its reply is cut there: a looping outline is useless)."""
    sections = max(2, min(40, round(words / WORDS_PER_SECTION)))
    values = resolve_values(
        job.outline_template, {"request": job.request, "words": str(words), "sections": str(sections)}
    )
    prompt = render(job.outline_template.body, values)
    if job.material is not None:  # a digest: every file's name, and the passages that bear most on the topic
        prompt = _digest(job) + "\n\n---\n\n" + prompt
    inputs = {**job.inputs, "step": "outline", "outline_template": job.outline_template.text, "words": words}
    return chat_messages(job.system, prompt), inputs, OUTLINE_WORDS_PER_SECTION * sections + 100


def _digest(job: LongformJob) -> str:
    assert job.material is not None
    files = job.material.files
    names = "\n".join(f"- {f.path} ({f.bytes:,} bytes)" for f in files[:200])
    more = f"\n- ... and {len(files) - 200:,} more" if len(files) > 200 else ""
    chosen, complete = job.material.choose(job.request, job.source_room // 2)
    passages = source_block(number_them(chosen, numbering([chosen]), complete=complete), citations=False)
    return (
        f"The document is to be grounded in the user's files ({len(files):,}):\n{names}{more}\n\n{passages}\n\n"
        "Plan sections that cover what this material holds; each section will be given the passages "
        "that bear most on its own title and brief."
    )


def section_sources(job: LongformJob, outline: Outline) -> list[Given]:
    """Each section's chunks, ranked for its own title and brief, numbered across the whole document."""
    if job.material is None:
        return []
    material = job.material
    picks = [material.choose(f"{s.title} {s.brief}", job.source_room) for s in outline.sections]
    numbers = numbering(chosen for chosen, _ in picks)
    return [number_them(chosen, numbers, complete=complete) for chosen, complete in picks]


def make_section_job(
    job: LongformJob, outline: Outline, i: int, *, folder: Path, given: Given | None = None
) -> DocumentJob:
    """The job of section ``i``; in sequential mode its prompt still holds a slot for the text before it.

    Its fingerprint is the run's inputs and the section's own title, brief, budget and
    whether it closes the document: an edit of another section's line, or another
    ``--parallel``, leaves a finished section valid (the prompt's view of its
    neighbours is context, not what it was asked to write).
    """
    section = outline.sections[i]
    n = len(outline.sections)
    if job.parallel > 1:
        neighbours = [
            f"- Section {k + 1} ({outline.sections[k].title}): {outline.sections[k].brief}"
            for k in (i - 1, i + 1)
            if 0 <= k < n
        ]
        context = "The neighbouring sections, written separately:\n" + "\n".join(neighbours) if neighbours else ""
    else:
        context = _PREVIOUS
    position = (
        "This is the final section: bring the whole document to a satisfying close."
        if i == n - 1
        else "More sections follow: do not conclude or summarise the document here."
    )
    values = resolve_values(
        job.section_template,
        {
            "request": job.request,
            "outline": outline.to_markdown(),
            "number": str(i + 1),
            "count": str(n),
            "title": section.title,
            "brief": section.brief,
            "budget": str(section.budget),
            "context": context,
            "position": position,
        },
    )
    prompt = render(job.section_template.body, values)
    if given is not None:
        prompt = with_sources(prompt, given, citations=job.citations)
    return DocumentJob(
        output=folder / f"{i + 1:02d}-{slugify(section.title, limit=40)}.md",
        messages=chat_messages(job.system, prompt),
        given=given,  # the whole document lists its sources, once, when the sections are stitched
        document_id=fingerprint({"output": str(job.output.resolve()), "inputs": fingerprint(job.inputs)}),
        sampling=job.sampling,
        inputs={
            "run": fingerprint(job.inputs),
            "title": section.title,
            "brief": section.brief,
            "budget": section.budget,
            "last": i == n - 1,
            "section_template": job.section_template.text,
        },
        target_words=section.budget,
        asked_words=True,
    )


def with_previous(messages: tuple[dict[str, str], ...], previous: str | None) -> tuple[dict[str, str], ...]:
    """Fill a sequential section's slot with the end of the text before it (None: it opens the document)."""
    if previous is None:
        text = "This is the first section: open the document."
    else:
        text = f"The text so far ends like this:\n\n<previous>\n{previous[-CONTEXT_CHARS:]}\n</previous>"
    *head, user = messages
    return (*head, {**user, "content": user["content"].replace(_PREVIOUS, text)})
