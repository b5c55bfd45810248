"""``--source`` building blocks through real files: reading (sources), cutting (chunks), ranking."""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from docgen.errors import UsageError
from docgen.inputs.chunks import Chunk, split_into_chunks
from docgen.inputs.ranking import ChunkIndex, rank_chunks, select_within, words
from docgen.inputs.sources import STDIN_PATH, SourceFile, read_sources


def _tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


def _paths(specs: list[str], base: Path) -> list[str]:
    files, _ = read_sources(specs, base=base)
    return [file.path for file in files]


# --- reading ---------------------------------------------------------------------------------


def test_a_folder_is_walked_in_path_order_without_hidden_or_gitignored_files(tmp_path: Path) -> None:
    _tree(tmp_path, {
        ".gitignore": "*.log\n!keep.log\nbuild/\n/top-only.txt\ndocs/**/draft.md\nsecret*\n",
        "a.md": "a", "app.log": "x", "keep.log": "k", "top-only.txt": "x", "secret.md": "x",
        "build/x.md": "x", "build/keep.log": "x",  # an ignored folder: a negation cannot reach in
        "docs/ok.md": "ok", "docs/draft.md": "x", "docs/x/y/draft.md": "x",
        "sub/.gitignore": "!*.log\n", "sub/app.log": "re-included", "sub/build": "a file, not a folder",
        "sub/top-only.txt": "anchored patterns match only at their own level", "sub/secrets/x.md": "x",
        ".hidden/x.md": "x", ".dotfile.md": "x", "docs/.cache/y.md": "x",
    })
    files, warnings = read_sources(["."], base=tmp_path)

    assert [file.path for file in files] == [
        "a.md", "docs/ok.md", "keep.log", "sub/app.log", "sub/build", "sub/top-only.txt",
    ]
    assert warnings == []  # being ignored is silent
    assert files[0] == SourceFile("a.md", "a", 1, hashlib.sha256(b"a").hexdigest())


def test_the_gitignore_of_the_enclosing_repository_applies_to_a_folder_inside_it(tmp_path: Path) -> None:
    _tree(tmp_path, {".git/HEAD": "ref", ".gitignore": "*.tmp\ndocs/generated/\n",
                     "docs/a.md": "a", "docs/b.tmp": "x", "docs/generated/c.md": "x"})
    assert _paths(["docs"], tmp_path) == ["docs/a.md"]


def test_a_file_named_outright_is_read_even_when_ignored_or_hidden(tmp_path: Path) -> None:
    _tree(tmp_path, {".gitignore": "*.log\n", "app.log": "log", ".env.md": "hidden"})
    assert _paths(["app.log", ".env.md"], tmp_path) == ["app.log", ".env.md"]


def test_binary_files_are_skipped_with_one_warning(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.md": "text", "blob.dat": b"\x00\x01\x02 binary", "pic.png": b"not even read",
                     "zip.zip": b"PK"})
    files, warnings = read_sources(["."], base=tmp_path)

    assert [file.path for file in files] == ["a.md"]
    assert warnings == ["--source .: skipped binary files: blob.dat, pic.png, zip.zip"]


def test_a_word_document_is_read_as_its_text(tmp_path: Path) -> None:
    pytest.importorskip("docx")
    from docgen.markdown.docx_output import markdown_to_docx

    memo = markdown_to_docx("# Memo\n\nRevenue rose 4% in Q3.\n\n- north: up\n- south: flat\n", title="Memo",
                            toc=False)
    _tree(tmp_path, {"memo.docx": memo, "old.docx": b"PK\x03\x04 a Word file that is not one"})
    files, warnings = read_sources(["."], base=tmp_path)
    assert [(f.path, f.text) for f in files] == [("memo.docx", "# Memo\n\nRevenue rose 4% in Q3.\n\n- north: up\n"
                                                                "- south: flat\n")]
    assert files[0].bytes == len(memo) and files[0].sha256 == hashlib.sha256(memo).hexdigest()
    assert warnings == ["--source .: skipped .docx files: not a Word document: old.docx"]


def test_bytes_that_are_not_utf8_are_replaced_with_a_warning(tmp_path: Path) -> None:
    _tree(tmp_path, {"latin.txt": "café olé\n".encode("latin-1")})
    files, warnings = read_sources(["latin.txt"], base=tmp_path)

    assert files[0].text == "caf\ufffd ol\ufffd\n"
    assert files[0].sha256 == hashlib.sha256("café olé\n".encode("latin-1")).hexdigest()
    assert warnings == ["--source latin.txt: not UTF-8, undecodable bytes read as \ufffd: latin.txt"]


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"one\r\ntwo\r\n", "one\ntwo\n"),
        (b"old\rmac\r", "old\nmac\n"),
        (b"\xef\xbb\xbfbom\n", "bom\n"),
        ("utf-16 ✓\n".encode("utf-16"), "utf-16 ✓\n"),  # its NUL bytes must not make it binary
    ],
)
def test_encodings_and_line_endings(tmp_path: Path, raw: bytes, text: str) -> None:
    _tree(tmp_path, {"f.txt": raw})
    files, warnings = read_sources(["f.txt"], base=tmp_path)
    assert (files[0].text, files[0].bytes, warnings) == (text, len(raw), [])


def test_a_symlink_loop_ends(tmp_path: Path) -> None:
    _tree(tmp_path, {"docs/a.md": "a", "docs/sub/b.md": "b"})
    os.symlink("..", tmp_path / "docs/sub/up")
    os.symlink(".", tmp_path / "docs/self")
    os.symlink("sub", tmp_path / "docs/again")

    assert _paths(["docs"], tmp_path) == ["docs/a.md", "docs/again/b.md"]  # each real folder once
    assert _paths(["**/*.md"], tmp_path) == ["docs/a.md", "docs/again/b.md"]


def test_pipes_and_broken_links_in_a_folder_are_passed_over(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.md": "a"})
    os.mkfifo(tmp_path / "pipe")  # opening it would block until someone writes
    os.symlink("missing.md", tmp_path / "dangling.md")
    files, warnings = read_sources(["."], base=tmp_path)

    assert [file.path for file in files] == ["a.md"]
    assert warnings == ["--source .: skipped broken links: dangling.md"]


def test_globs_match_relative_to_base(tmp_path: Path) -> None:
    _tree(tmp_path, {"notes/a.md": "a", "notes/b.txt": "b", "notes/deep/c.md": "c", "src/x.py": "x",
                     "src/pkg/y.py": "y", "top.py": "t", ".gitignore": "src/pkg/\n"})
    assert _paths(["notes/*.md"], tmp_path) == ["notes/a.md"]
    assert _paths(["**/*.py"], tmp_path) == ["src/x.py", "top.py"]  # src/pkg is ignored
    assert _paths(["notes/**/*.md", "*.py"], tmp_path) == ["notes/a.md", "notes/deep/c.md", "top.py"]
    with pytest.raises(UsageError, match=r"--source notes/\*\.rst: no file matches"):
        read_sources(["notes/*.rst"], base=tmp_path)


def test_standard_input(tmp_path: Path) -> None:
    files, warnings = read_sources(["-"], base=tmp_path, stdin=io.BytesIO(b"# Piped\r\nin\n"))
    assert files == [SourceFile(STDIN_PATH, "# Piped\nin\n", 12, hashlib.sha256(b"# Piped\r\nin\n").hexdigest())]
    assert warnings == []


def test_standard_input_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="given twice") as caught:
        read_sources(["-", "notes", "-"], base=tmp_path, stdin=io.BytesIO(b"x"))
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError, match="--source is empty"):
        read_sources([""], base=tmp_path)  # it would otherwise mean the whole folder


@pytest.mark.parametrize("spec", ["missing.md", "missing/", "gone/*.md"])
def test_a_missing_source_is_an_error_naming_it(tmp_path: Path, spec: str) -> None:
    with pytest.raises(UsageError) as caught:
        read_sources(["-", spec], base=tmp_path, stdin=io.BytesIO(b"x"))
    assert caught.value.message.startswith(f"--source {spec}: no such ")
    assert caught.value.exit_code == 2


def test_a_broken_link_named_outright_is_an_error(tmp_path: Path) -> None:
    os.symlink("nowhere.md", tmp_path / "link.md")
    with pytest.raises(UsageError, match=r"--source link\.md: a broken link"):
        read_sources(["link.md"], base=tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_an_unreadable_source_is_an_error_naming_it(tmp_path: Path) -> None:
    _tree(tmp_path, {"locked.md": "x"})
    (tmp_path / "locked.md").chmod(0)
    with pytest.raises(UsageError, match=r"--source locked\.md: cannot read it"):
        read_sources(["locked.md"], base=tmp_path)


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux's /proc")
def test_a_file_that_fails_to_read_is_an_error_when_named_and_skipped_in_a_folder(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.md": "a"})
    os.symlink("/proc/self/mem", tmp_path / "mem.txt")  # reading it at offset 0 fails, even for root

    with pytest.raises(UsageError, match=r"--source mem\.txt: cannot read it \(Input/output error\)"):
        read_sources(["mem.txt"], base=tmp_path)
    files, warnings = read_sources(["."], base=tmp_path)
    assert [file.path for file in files] == ["a.md"]
    assert warnings == ["--source .: skipped unreadable files: mem.txt"]


def test_spec_order_is_kept_and_a_file_is_read_once(tmp_path: Path) -> None:
    _tree(tmp_path, {"b.md": "b", "docs/a.md": "a", "docs/c.md": "c"})
    os.link(tmp_path / "docs/c.md", tmp_path / "hard-link.md")
    assert _paths(["b.md", "docs", "docs/a.md", "hard-link.md", "."], tmp_path) == ["b.md", "docs/a.md", "docs/c.md"]


def test_paths_are_shown_relative_to_base_when_under_it_else_as_given(tmp_path: Path) -> None:
    _tree(tmp_path, {"project/docs/a.md": "a", "elsewhere/b.md": "b"})
    base = tmp_path / "project"
    assert _paths(["docs", "../elsewhere", str(tmp_path / "project/docs/a.md")], base) == [
        "docs/a.md", "../elsewhere/b.md",
    ]


def test_html_is_read_as_text_with_headings(tmp_path: Path) -> None:
    _tree(tmp_path, {"page.html": (
        "<html><head><title>T</title><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><h1>Fish &amp; chips</h1><p>Salt and <b>vinegar</b>,\n  please.</p>"
        "<h2>Sides</h2><ul><li>peas</li><li>bread</li></ul><pre>keep\n  this</pre></body></html>"
    )})
    files, _ = read_sources(["page.html"], base=tmp_path)
    assert files[0].text == (
        "# Fish & chips\n\nSalt and vinegar, please.\n\n## Sides\n\n- peas\n- bread\n\nkeep\n  this\n"
    )


def test_a_huge_file_is_read_in_part_and_hashed_whole(tmp_path: Path) -> None:
    raw = b"".join(b"line %d\n" % i for i in range(1000))
    _tree(tmp_path, {"big.log": raw})
    files, warnings = read_sources(["big.log"], base=tmp_path, max_file_bytes=1000)

    assert files[0].text == raw[:1000][: raw[:1000].rfind(b"\n") + 1].decode()  # whole lines only
    assert (files[0].bytes, files[0].sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    assert warnings == ["--source big.log: longer than 0.000953674 MB, only the start is read: big.log"]
    files, warnings = read_sources(["big.log"], base=tmp_path, max_file_bytes=len(raw))
    assert (files[0].text, warnings) == (raw.decode(), [])  # exactly the limit: nothing left out


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_file_that_claims_to_be_empty_is_read_to_its_end() -> None:
    files, _ = read_sources(["/proc/self/status"])  # its size says 0
    assert files[0].path == "/proc/self/status" and "Pid:" in files[0].text


# --- chunks ----------------------------------------------------------------------------------


def _file(path: str, text: str) -> SourceFile:
    return SourceFile(path, text, len(text.encode()), "")


def _assert_exact(file: SourceFile, chunks: list[Chunk], max_chars: int) -> None:
    """Each chunk is exactly the lines it claims, in order, within size; joined, they are the file
    (less blank lines between them); the pieces of a long line rebuild it from their columns."""
    lines = file.text.split("\n")
    if lines[-1] == "":
        lines.pop()
    rebuilt: dict[int, str] = {}
    for before, chunk in zip([None, *chunks], chunks, strict=False):
        assert chunk.size <= max_chars and chunk.path == file.path
        if before is not None:
            assert (chunk.start_line, chunk.column) > (before.end_line, before.column)
        claimed = "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
        if chunk.text == claimed:
            assert chunk.column == 0
            rebuilt.update({n: lines[n - 1] for n in range(chunk.start_line, chunk.end_line + 1)})
        else:  # a piece of one long line
            assert chunk.start_line == chunk.end_line
            assert len(rebuilt.get(chunk.start_line, "")) == chunk.column
            rebuilt[chunk.start_line] = rebuilt.get(chunk.start_line, "") + chunk.text
    for number, line in enumerate(lines, 1):
        assert rebuilt.get(number, "").strip() == line.strip() and rebuilt.get(number, line) == line


def _random_document(rng: random.Random) -> str:
    words = ["alpha", "beta", "gamma", "δέλτα", "研究", "naïve", "x"]
    lines = []
    for _ in range(rng.randint(0, 80)):
        kind = rng.random()
        if kind < 0.1:
            lines.append("#" * rng.randint(1, 7) + " " + rng.choice(words))
        elif kind < 0.14:
            lines.append(rng.choice(["```", "~~~", "```python", "    ```"]))
        elif kind < 0.3:
            lines.append(rng.choice(["", " ", "\t"]))
        elif kind < 0.34:
            lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(100, 900))))
        elif kind < 0.36:
            lines.append("z" * rng.randint(100, 5000))
        elif kind < 0.4:
            lines.append(",".join(rng.choice(words) for _ in range(4)) + ',"quoted\nfield"')
        else:
            lines.append(" ".join(rng.choice(words) for _ in range(rng.randint(1, 25))))
    return "\n".join(lines) + rng.choice(["", "\n", "\n\n"])


@pytest.mark.parametrize("seed", range(40))
def test_chunk_line_ranges_are_exact(seed: int) -> None:
    rng = random.Random(seed)
    text = _random_document(rng)
    for path in ("notes.md", "code.py", "table.csv", STDIN_PATH):
        max_chars = rng.choice([40, 100, 700, 2000])
        file = _file(path, text)
        _assert_exact(file, split_into_chunks(file, max_chars=max_chars), max_chars)


def test_markdown_is_cut_at_headings_and_chunks_carry_the_headings_above(document: str) -> None:
    text = "# Guide\n\n## Install\n\n" + "\n\n".join(f"Step {i}. " + "word " * 60 for i in range(8))
    text += "\n\n## Use\n\n```sh\n# a comment, not a heading\n```\n"
    chunks = split_into_chunks(_file("guide.md", text), max_chars=800)

    assert [(c.start_line, c.end_line, c.header) for c in chunks] == [
        (1, 7, ""), (9, 11, "# Guide\n## Install"), (13, 15, "# Guide\n## Install"),
        (17, 19, "# Guide\n## Install"), (21, 25, "# Guide"),
    ]
    assert chunks[0].text.startswith("# Guide\n\n## Install\n\nStep 0.")  # a lone title stays with its text
    big = _file("doc.md", document)
    _assert_exact(big, split_into_chunks(big), 2000)


def test_a_csv_chunk_carries_the_header_row() -> None:
    text = "id,name,notes\n" + "".join(f'{i},name {i},"two\nlines"\n' for i in range(100))
    chunks = split_into_chunks(_file("t.csv", text), max_chars=300)

    assert chunks[0].header == "" and chunks[0].text.startswith("id,name,notes\n0,")
    assert all(chunk.header == "id,name,notes" for chunk in chunks[1:])
    assert all(chunk.start_line % 2 == 0 for chunk in chunks[1:])  # records are never cut in two
    _assert_exact(_file("t.csv", text), chunks, 300)


def test_a_huge_line_is_cut_into_pieces_at_spaces() -> None:
    line = " ".join(f"w{i}" for i in range(3000))
    chunks = split_into_chunks(_file("min.json", "[\n" + line + "\n]\n"), max_chars=500)

    pieces = [chunk for chunk in chunks if chunk.start_line == 2]
    assert "".join(piece.text for piece in pieces) == line
    assert all(piece.text.endswith(" ") for piece in pieces[:-1])
    assert [piece.column for piece in pieces] == [sum(len(p.text) for p in pieces[:i]) for i in range(len(pieces))]


def test_a_small_file_is_one_chunk_and_an_empty_one_none() -> None:
    assert split_into_chunks(_file("a.py", "\n\nx = 1\n\n")) == [Chunk("a.py", 3, 3, "x = 1")]
    assert split_into_chunks(_file("a.md", "")) == []
    assert split_into_chunks(_file("a.md", "\n  \n")) == []


# --- ranking ---------------------------------------------------------------------------------

_TOPIC = "Tidal turbine gearbox maintenance"
_NEEDLE = """# Tidal turbine gearbox maintenance

A tidal turbine gearbox runs underwater for years. Crews inspect the seals and bearings of the
gearbox at each maintenance visit, since a failed seal lets seawater into the bearings.
"""


def _haystack(root: Path, files: int) -> None:
    """``files`` distractors that use the topic's words one or two at a time, and the needle."""
    rng = random.Random(5)
    filler = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{rng.choice('lmnrst')}{i}" for i in range(3000)]
    topic = ["tidal", "turbine", "gearbox", "maintenance", "seals", "bearings", "underwater"]
    for number in range(files):
        words = rng.choices(filler, k=rng.randint(50, 300)) + rng.sample(topic, k=rng.randint(0, 2))
        rng.shuffle(words)
        _tree(root, {f"area-{number % 40}/note-{number}.md": f"# Note {number}\n\n" + " ".join(words) + "\n"})
    _tree(root, {"area-7/zz-turbines.md": _NEEDLE})


@pytest.mark.parametrize("full_index_chars", [10**9, 0], ids=["one-index", "candidates-per-query"])
def test_the_one_relevant_file_among_2000_ranks_first(tmp_path: Path, full_index_chars: int) -> None:
    _haystack(tmp_path, 2000)
    files, _ = read_sources(["."], base=tmp_path)
    chunks = [chunk for file in files for chunk in split_into_chunks(file)]
    index = ChunkIndex(chunks, full_index_chars=full_index_chars, candidates=50)

    for query in (_TOPIC, "Seals and bearings: what to inspect", "turbines"):
        ranked = index.rank(query, limit=5)
        assert ranked[0][0].path == "area-7/zz-turbines.md", query
        assert [score for _, score in ranked] == sorted((score for _, score in ranked), reverse=True)
    assert index.rank("the and of", limit=5) == []  # stop words only
    assert index.rank("unheardof", limit=5) == []


def test_words_split_identifiers_and_typographic_punctuation() -> None:
    assert words("rate_limiter—the “Quoted” Café, kebab-case x2") == [
        b"rate", b"limiter", b"the", b"quoted", "café".encode(), b"kebab", b"case", b"x2",
    ]
    chunks = [Chunk("src/rate_limiter.py", 1, 1, "class Limiter: ..."), Chunk("notes.md", 1, 1, "unrelated")]
    assert [chunk.path for chunk, _ in rank_chunks(chunks, "The rate limiter", limit=5)] == ["src/rate_limiter.py"]


def test_rank_chunks_breaks_ties_in_document_order() -> None:
    chunks = [Chunk(f"{name}.md", 1, 1, "same words here") for name in "cab"]
    assert [chunk.path for chunk, _ in rank_chunks(chunks, "same words", limit=3)] == ["c.md", "a.md", "b.md"]
    assert rank_chunks([], "anything", limit=3) == []


def test_select_within_takes_the_best_that_fit_in_document_order() -> None:
    a, b, c, d = (Chunk("a.md", 10, 12, "x" * 50), Chunk("a.md", 1, 3, "y" * 30), Chunk("b.md", 1, 1, "z" * 100),
                  Chunk("a.md", 5, 5, "w" * 10, header="# H"))
    ranked = [(c, 9.0), (a, 8.0), (b, 7.0), (d, 6.0)]

    assert select_within(ranked, 100) == [c]
    assert select_within(ranked, 95) == [b, d, a]  # c does not fit; the rest do, in file and line order
    assert select_within(ranked, 0) == []


def test_importing_the_building_blocks_loads_no_library_yet() -> None:
    code = "import sys, docgen.inputs.ranking, docgen.inputs.sources; print({'numpy', 'pathspec'} & set(sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "set()"  # docgen --help stays fast
