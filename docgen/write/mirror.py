"""A second home for the text as it is written: ``-o -`` streams the document to stdout.

A stream cannot take text back, and the file can: a loop the model wrote is cut out of
the current reply, and the finished document is brought back to its last complete
sentence. So the mirror runs ``hold`` bytes behind the file, which covers what a loop cut
reaches in practice, and gets the rest, as finished, at the end. Should a cut ever reach
text already sent, ``overrun`` says so (the run warns); the file stays right.
"""

from __future__ import annotations

from typing import BinaryIO

HOLD = 16384  # bytes kept back: several paragraphs, more than a loop's copies usually span


class Mirror:
    def __init__(self, stream: BinaryIO, *, hold: int = HOLD) -> None:
        self.stream = stream
        self.hold = hold
        self.pending = bytearray()
        self.sent = 0  # bytes of the text already in the stream
        self.overrun = False

    def add(self, data: bytes) -> None:
        """The file grew by ``data``: send what is now ``hold`` bytes behind its end."""
        self.pending += data
        if len(self.pending) > self.hold:
            self._send(len(self.pending) - self.hold)

    def cut(self, size: int) -> None:
        """The file was cut back to ``size`` bytes."""
        keep = size - self.sent
        if keep < 0:
            self.overrun = True
            self.pending.clear()
        else:
            del self.pending[keep:]

    def finish(self, text: bytes) -> None:
        """The document is done and ``text`` is all of it: send what the stream does not have yet."""
        if len(text) < self.sent:
            self.overrun = True
        self.pending[:] = text[self.sent :]
        self._send(len(self.pending))

    def flush_rest(self) -> None:
        """The run failed: send everything written so far, so no text is lost with the run."""
        self._send(len(self.pending))

    def _send(self, n: int) -> None:
        if n <= 0:
            return
        self.stream.write(bytes(self.pending[:n]))
        self.stream.flush()
        del self.pending[:n]
        self.sent += n
