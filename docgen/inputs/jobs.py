"""Jobs: plain data saying what to write and where, built before anything is sent.

A ``JobSpec`` is what a user asked for (``docgen write`` or one job of a batch), settled
without the server: the prompt, the output, the sampling, single reply chain or outline.
``JobSpec.resolve(model)`` gives the job that ``write/`` runs once the model is known,
a ``DocumentJob`` or a ``LongformJob``; the model is part of what shapes the text, so it
is part of the job's fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docgen.errors import UsageError
from docgen.inputs.grounding import (
    CHARS_PER_TOKEN,
    DEFAULT_WINDOW,
    Given,
    Material,
    no_room,
    number_them,
    numbering,
    source_budget,
    source_inputs,
    with_sources,
)
from docgen.inputs.prompt import Prompt, chat_messages, messages_for
from docgen.inputs.sources import SourceFile
from docgen.inputs.templates import Template, load_template
from docgen.markdown.finish import OutputFormat

OUTLINE_ABOVE_WORDS = 2500  # measured: see the README's "Length" (SmolLM2: 1,500 words fine, 3,000 not)


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """A stable digest of everything that shapes the text."""
    canonical = json.dumps(inputs, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DocumentJob:
    """One document written by one reply chain: the conversation that asks for it and where it goes."""

    output: Path
    messages: tuple[dict[str, str], ...]
    sampling: Mapping[str, Any]  # temperature, max_tokens, ...: sent in every request
    inputs: Mapping[str, Any]  # what shapes the text (template, variables, model, sampling)
    target_words: int | None = None
    output_format: OutputFormat = field(default_factory=OutputFormat)
    title: str = ""  # for an HTML page without a heading
    word_limit: int | None = None  # a hard cap for text that has no target to keep to (an outline)
    asked_words: bool = False  # the target was asked for (--words, a budget), not a template's default
    given: Given | None = None  # the user's sources in the prompt, numbered
    sources_list: bool = False  # end the finished document with the sources it cites
    document_id: str = ""  # the document this text is part of (a section's is its document's)

    @property
    def session_id(self) -> str:
        """Stable per document and its inputs: sent as X-Session-Id so a router keeps it on one backend."""
        return self.document_id or fingerprint({"output": str(self.output.resolve()), "inputs": self.fingerprint})

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.inputs)


@dataclass(frozen=True)
class LongformJob:
    """One document written by outline: plan (or read) the sections, write each, stitch."""

    output: Path
    request: str  # the document template's rendered prompt
    system: str
    inputs: Mapping[str, Any]
    sampling: Mapping[str, Any]
    words: int | None  # --words, when given
    outline_template: Template
    section_template: Template
    default_words: int | None = None  # the template's target: the length of a planned outline
    outline_file: Path | None = None  # the user's outline; None plans one
    parallel: int = 1
    output_format: OutputFormat = field(default_factory=OutputFormat)
    title: str = ""
    material: Material | None = None  # the user's sources: a digest for the outline, chunks per section
    citations: bool = True
    source_room: int = 0  # characters of sources one prompt may carry


Job = DocumentJob | LongformJob


def document_inputs(
    prompt: Prompt, *, model: str, sampling: Mapping[str, Any], sources: Sequence[SourceFile] = ()
) -> dict[str, Any]:
    """What shapes the text, for the fingerprint: template, values, system, model, sampling."""
    inputs = {
        "template": prompt.template.text,
        "variables": prompt.values,
        "system": prompt.system,
        "model": model,
        "temperature": sampling.get("temperature"),
    }
    # top_p, seed, --param fields: only when given, so a run without them keeps its fingerprint
    inputs.update({k: v for k, v in sorted(sampling.items()) if k not in ("temperature", "max_tokens")})
    inputs.update(source_inputs(sources))
    return inputs


@dataclass(frozen=True)
class JobSpec:
    """A document as asked for, before the server (and so the model) is known."""

    prompt: Prompt
    output: Path
    sampling: Mapping[str, Any]
    words: int | None  # --words (or a manifest's words), when given
    output_format: OutputFormat = field(default_factory=OutputFormat)
    title: str = ""
    outline: str | None = None  # None: one reply chain; "auto" plans an outline; else the user's file
    parallel: int = 1
    outline_template: Template | None = None
    section_template: Template | None = None
    outline_setting: str | None = None  # --outline as given: auto, none, a file, or None (by length)
    sources: tuple[SourceFile, ...] = ()
    citations: bool = True

    def output_fingerprint(self, job: Job) -> str:
        """What a finished output is recorded with: the same inputs again mean it is up to date."""
        return fingerprint({**job.inputs, "outline": self.outline_setting, "output": self.output.suffix})

    @property
    def by_outline(self) -> bool:
        return self.outline is not None

    @property
    def target_words(self) -> int | None:
        return self.words if self.words is not None else self.prompt.target_words

    def resolve(self, model: str, *, window: int | None = None, tail_chars: int = 12000) -> Job:
        """The job to run against ``model``; with sources, sized to a context ``window`` of tokens."""
        inputs = document_inputs(self.prompt, model=model, sampling=self.sampling, sources=self.sources)
        material = Material(self.sources) if self.sources else None
        window = window or DEFAULT_WINDOW
        room = 0
        if material is not None:
            reply = min(int(self.sampling.get("max_tokens") or 2048), window // 4)
            tail = min(tail_chars, int(window * CHARS_PER_TOKEN / 4))
            size = len(self.prompt.system) + len(self.prompt.user)
            room = source_budget(window, instructions_chars=size, reply_tokens=reply, tail_chars=tail)
            if not room:
                raise no_room(window)
        if self.outline is None:
            messages, given = messages_for(self.prompt), None
            if material is not None:
                chosen, complete = material.choose(self.prompt.values.get("topic") or self.prompt.user, room)
                given = number_them(chosen, numbering([chosen]), complete=complete)
                user = with_sources(self.prompt.user, given, citations=self.citations)
                messages = chat_messages(self.prompt.system, user)
            return DocumentJob(
                output=self.output,
                messages=messages,
                sampling=dict(self.sampling),
                inputs=inputs,
                target_words=self.target_words,
                output_format=self.output_format,
                title=self.title,
                asked_words=self.words is not None,
                given=given,
                sources_list=given is not None and self.citations,
            )
        assert self.outline_template is not None and self.section_template is not None
        return LongformJob(
            output=self.output,
            request=self.prompt.user,
            system=self.prompt.system,
            inputs=inputs,
            sampling=dict(self.sampling),
            words=self.words,  # only an explicit --words rescales a user's outline
            default_words=self.prompt.target_words,
            outline_template=self.outline_template,
            section_template=self.section_template,
            outline_file=None if self.outline == "auto" else Path(self.outline),
            parallel=self.parallel,
            output_format=self.output_format,
            title=self.title,
            material=material,
            citations=self.citations,
            source_room=room,
        )


def job_spec(
    *,
    prompt: Prompt,
    output: Path,
    sampling: Mapping[str, Any],
    words: int | None,
    outline: str | None = None,
    parallel: int = 1,
    outline_prompt: str = "outline",
    section_prompt: str = "section",
    search: tuple[Path, ...] = (),
    output_format: OutputFormat | None = None,
    title: str = "",
    sources: Sequence[SourceFile] = (),
    citations: bool = True,
) -> JobSpec:
    """Settle a document's job: with ``outline`` (``auto`` or a file) it is written by outline.

    ``outline`` None decides by length: a target asked for above ``OUTLINE_ABOVE_WORDS``
    is written by outline, since one reply chain does not reliably reach it; ``"none"``
    forces one reply chain. Everything that can be checked without a server is checked
    here: the outline file exists, and the outline and section templates load.
    """
    setting = outline
    if outline is None:
        outline = "auto" if words is not None and words > OUTLINE_ABOVE_WORDS else None
    elif outline == "none":
        outline = None
    outline_template = section_template = None
    if outline:
        if outline != "auto" and not Path(outline).is_file():
            raise UsageError(f"--outline {outline}: no such file", hint="give an outline file, or --outline auto")
        outline_template = load_template(outline_prompt, search=search)
        section_template = load_template(section_prompt, search=search)
    return JobSpec(
        prompt=prompt,
        output=output,
        sampling=dict(sampling),
        words=words,
        output_format=output_format or OutputFormat(),
        title=title,
        outline=outline or None,
        parallel=parallel,
        outline_template=outline_template,
        section_template=section_template,
        outline_setting=setting,
        sources=tuple(sources),
        citations=citations,
    )
