"""An incremental parser for ``text/event-stream`` bytes, per the WHATWG standard.

It works on bytes, so a UTF-8 character split across two network reads is never
decoded in halves: only whole events are handed on, and their bytes are decoded once.
"""

from __future__ import annotations

_BOM = b"\xef\xbb\xbf"


class SSEDecoder:
    """Feed raw bytes in; get back the data of each complete event, as bytes.

    Handles CR, LF and CRLF line ends (a CR at the end of one read followed by an LF
    at the start of the next is one line end), comments, multi-line data, one leading
    BOM, and fields with or without the space after the colon. Fields other than
    ``data`` are ignored, except llama.cpp's old non-standard ``error:`` line, which
    is passed on as ``{"error": …}`` data. An unterminated event at EOF is discarded.
    """

    __slots__ = ("_tail", "_data", "_skip_lf", "_bom_checked")

    def __init__(self) -> None:
        self._tail = b""
        self._data: list[bytes] = []
        self._skip_lf = False
        self._bom_checked = False

    def feed(self, block: bytes) -> list[bytes]:
        """Consume ``block``; return the data of every event it completed."""
        if not self._bom_checked:
            block = self._tail + block
            self._tail = b""
            if len(block) < 3 and _BOM.startswith(block):
                self._tail = block
                return []
            self._bom_checked = True
            if block.startswith(_BOM):
                block = block[3:]
        if not block:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if block[0] == 10:  # the LF of a CRLF split across two reads
                block = block[1:]
                if not block:
                    return []
        buf = self._tail + block if self._tail else block
        if b"\r" in buf:
            if buf.endswith(b"\r"):
                self._skip_lf = True
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        events: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
                continue
            if line[0] == 58:  # b":" starts a comment
                continue
            name, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if name == b"data":
                data.append(value)
            elif name == b"error":
                data.append(b'{"error":' + value + b"}")
        return events

    def take_tail(self) -> bytes | None:
        """Hand back the unparsed bytes if they start a fresh event, else None.

        Lets a faster parser take over at an event boundary.
        """
        if self._data or self._skip_lf or not self._bom_checked:
            return None
        tail, self._tail = self._tail, b""
        return tail
