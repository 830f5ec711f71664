"""Reading snapshot files within limits, one row at a time (DESIGN §7, issue 13).

Snapshot files come from other systems and are untrusted, so reading them has stated bounds:
the path must be a regular file (not a FIFO, a device such as `/dev/urandom`, or a directory) of at
most `MAX_FILE_BYTES`; text must be UTF-8; a CSV line or a JSON row holds at most
`MAX_LINE_CHARS` characters; JSON nests at most `MAX_DEPTH` levels (a list of objects of plain
values needs two, an error in a row a little more); a number is at most `MAX_NUMBER_CHARS`
characters. Within those bounds the readers yield one row at a time, so memory does not grow with
the file: a million-row file streams in the memory of one buffer. Every refusal is a `StoreError`
naming the file and, where there is one, the line or row.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from twin.errors import StoreError

MAX_FILE_BYTES = 4 * 1024**3
"""A snapshot file may hold at most 4 GiB (a million shipments are about 60 MB of CSV)."""

MAX_LINE_CHARS = 1 << 20
"""A CSV line, or one row of a JSON file, holds at most this many characters (1 Mi)."""

MAX_DEPTH = 4
"""JSON nests at most this deep: the file's list, a row object, and a level or two for an error."""

MAX_NUMBER_CHARS = 100
"""A number is at most this many characters: enough for any float `repr`, no 5000-digit ints."""

CHUNK_CHARS = 1 << 20
"""JSON text is read in pieces of this many characters."""

Record = tuple[int, str, Any]
"""A row as read: its number (CSV line, where the header is line 1, or JSON row from 1), the
place as messages show it (`line 4`, `row 3`), and the row."""

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class Huge:
    """A JSON number longer than `MAX_NUMBER_CHARS`, kept as (the start of) its text, unparsed.

    Python refuses to parse integers of more than 4300 digits (`ValueError`), and a long one costs
    quadratic time; the row check reports this as an out-of-range number instead.
    """

    def __init__(self, text: str) -> None:
        self.digits = len(text)
        self.text = text[:20]

    def __str__(self) -> str:
        return f"{self.text}... ({self.digits} characters)"

    __repr__ = __str__


class RepeatedKeys(dict[str, Any]):
    """A JSON object in which a key appears more than once (`repeated`: those keys, in order)."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict; a `RepeatedKeys` when a key repeats (json keeps only the last)."""
    row = dict(pairs)
    if len(row) == len(pairs):
        return row
    seen: set[str] = set()
    repeated = RepeatedKeys(row)
    repeated.repeated = []
    for key, _ in pairs:
        if key in seen and key not in repeated.repeated:
            repeated.repeated.append(key)
        seen.add(key)
    return repeated


def _number(kind: type[int] | type[float]) -> Any:
    """A JSON number parser that leaves over-long numbers as `Huge`."""

    def parse(text: str) -> Any:
        return kind(text) if len(text) <= MAX_NUMBER_CHARS else Huge(text)

    return parse


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_number(int), parse_float=_number(float)
)


@contextmanager
def open_snapshot(path: Path) -> Iterator[TextIO]:
    """The file as UTF-8 text (a byte-order mark allowed), once known a regular, bounded file.

    The limit is `MAX_FILE_BYTES`. It is opened without blocking (a FIFO with no writer would
    hang an `open`) and checked on the open descriptor (`fstat`), so it cannot be swapped between
    the check and the read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a file")
            raise StoreError(f"{path}: is {kind}, not a regular file; a snapshot is a file")
        if info.st_size > MAX_FILE_BYTES:
            raise StoreError(
                f"{path}: is {info.st_size} bytes; a snapshot file may hold at most "
                f"{MAX_FILE_BYTES} bytes (4 GiB)"
            )
        raw = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        yield text


def _not_utf8(source: str, where: str, exc: UnicodeDecodeError) -> StoreError:
    """The error for bytes that are not UTF-8, at a line or row."""
    return StoreError(f"{source}: {where} is not UTF-8 text ({exc.reason})")


def csv_lines(text: TextIO, source: str) -> Iterator[str]:
    """The physical lines of a CSV file, each at most `MAX_LINE_CHARS` characters, for `csv.reader`.

    Bounding each line bounds a row: a row spans several lines only inside a quoted value, and
    `csv` bounds a value (`csv.field_size_limit`). The total is checked too, for files whose size
    the file system does not know (`/proc`).
    """
    number, total = 0, 0
    while True:
        try:
            line = text.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:
            bad = _first_bad_line(text) or number + 1
            raise _not_utf8(source, f"line {bad}", exc) from None
        if not line:
            return
        number += 1
        total += len(line)
        if len(line) > MAX_LINE_CHARS:
            raise StoreError(
                f"{source}: line {number} is longer than {MAX_LINE_CHARS} characters; "
                "is this a CSV file?"
            )
        if total > MAX_FILE_BYTES:
            raise StoreError(f"{source}: holds more than {MAX_FILE_BYTES} characters")
        yield line


def _first_bad_line(text: TextIO) -> int | None:
    """The number of the first line that is not UTF-8, read again from the start.

    The text layer decodes ahead in blocks, so its error does not say which line; this pass
    runs only when there is an error, over lines bounded as `csv_lines` bounds them.
    """
    raw: Any = getattr(text, "buffer", None)
    if raw is None or not raw.seekable():
        return None
    raw.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    number = 0
    while True:
        line = raw.readline(4 * MAX_LINE_CHARS + 4)
        if not line:
            return None
        number += line.count(b"\n", 0, len(line) - 1) + 1  # a lone CR is no line end here
        try:
            decoder.decode(line)
        except UnicodeDecodeError:
            return number


_SPACE = re.compile(r"[ \t\n\r]*")
_FLAT_OBJECT = re.compile(r'\{(?:[^{}\[\]"]|"(?:[^"\\]|\\.)*")*\}', re.DOTALL)
"""An object with no list or object inside it (outside strings): the shape of every good row."""
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class _Buffer:
    """JSON text read piece by piece, with the line and column of its start for messages."""

    def __init__(self, text: TextIO, source: str) -> None:
        self.text, self.source = text, source
        self.buf, self.pos = "", 0
        self.eof = False
        self.line, self.column = 1, 1  # of buf[0]
        self.total = 0
        self.row = 0

    def fill(self) -> None:
        """Have at least `MAX_LINE_CHARS` characters after `pos`, or the rest of the file."""
        if self.eof or len(self.buf) - self.pos >= MAX_LINE_CHARS:
            return
        done = self.buf[: self.pos]
        newlines = done.count("\n")
        if newlines:
            self.line += newlines
            self.column = len(done) - done.rfind("\n")
        else:
            self.column += len(done)
        parts = [self.buf[self.pos :]]
        have = len(parts[0])
        while have < MAX_LINE_CHARS and not self.eof:
            try:
                piece = self.text.read(CHUNK_CHARS)
            except UnicodeDecodeError as exc:
                if not self.row:
                    raise StoreError(f"{self.source}: is not UTF-8 text ({exc.reason})") from None
                raise _not_utf8(self.source, f"row {self.row + 1}", exc) from None
            self.total += len(piece)
            if self.total > MAX_FILE_BYTES:
                raise StoreError(f"{self.source}: holds more than {MAX_FILE_BYTES} characters")
            self.eof = not piece
            parts.append(piece)
            have += len(piece)
        self.buf, self.pos = "".join(parts), 0

    def skip_space(self) -> str:
        """Skip white space; the next character, or '' at the end of the file."""
        while True:
            self.fill()
            self.pos = _SPACE.match(self.buf, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos : self.pos + 1]

    def invalid(self, message: str, at: int) -> StoreError:
        """`is not valid JSON (... at line L, character C)` for a position in the buffer."""
        before = self.buf[:at]
        newlines = before.count("\n")
        line = self.line + newlines
        column = at - before.rfind("\n") if newlines else self.column + at
        return StoreError(
            f"{self.source}: is not valid JSON ({message} at line {line}, character {column})"
        )

    def value(self) -> Any:
        """The JSON value at `pos`, within the limits on length and nesting; `pos` moves past it."""
        self.fill()
        start = self.pos
        flat = _FLAT_OBJECT.match(self.buf, start, start + MAX_LINE_CHARS)
        if flat is None:
            self._check_nesting(start)
        try:
            value, end = _DECODER.raw_decode(self.buf, start)
        except json.JSONDecodeError as exc:
            raise self.invalid(exc.msg, exc.pos) from None
        self.pos = end
        return value

    def _check_nesting(self, start: int) -> None:
        """Refuse a value nested deeper than `MAX_DEPTH` (or longer than a row) before parsing.

        json's recursive parser would hit Python's recursion limit on 100k levels.
        """
        if self.buf[start : start + 1] not in ("[", "{"):
            return  # a plain value: nothing nests
        depth = 1  # the file's list
        for token in _STRUCTURE.finditer(self.buf, start, start + MAX_LINE_CHARS):
            mark = token.group()
            if mark in "[{":
                depth += 1
                if depth > MAX_DEPTH:
                    raise StoreError(
                        f"{self.source}: row {self.row} nests lists or objects deeper than "
                        f"{MAX_DEPTH} levels; a row is an object of strings and numbers"
                    )
            elif mark in "]}":
                depth -= 1
                if depth == 1:
                    return
        if len(self.buf) - start > MAX_LINE_CHARS:
            raise StoreError(
                f"{self.source}: row {self.row} is longer than {MAX_LINE_CHARS} characters"
            )


def json_rows(text: TextIO, source: str) -> Iterator[Record]:
    """The rows of a JSON file, a list of objects, one at a time: `(n, "row n", object)`."""
    buf = _Buffer(text, source)
    first = buf.skip_space()
    if not first:
        raise StoreError(f"{source}: is empty; it must be a JSON list of objects, one per row")
    if first != "[":
        if first in '{"-0123456789tfnNI':
            raise StoreError(f"{source}: must be a JSON list of objects, one per row")
        raise buf.invalid("Expecting value", buf.pos)
    buf.pos += 1
    if buf.skip_space() == "]":
        buf.pos += 1
    else:
        while True:
            buf.skip_space()
            buf.row += 1
            yield buf.row, f"row {buf.row}", buf.value()
            mark = buf.skip_space()
            buf.pos += 1
            if mark == "]":
                break
            if mark != ",":
                raise buf.invalid("Expecting ',' delimiter", buf.pos - 1)
    if buf.skip_space():
        raise buf.invalid("Extra data", buf.pos)
