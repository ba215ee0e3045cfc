"""Records per file, counted by the backup while it reads each file for its hash: a count of the input that does not
come from the clean job, so validation can compare the two (``files[].records`` in the manifest).

A count means what the job's ``input`` means (include/spark/indata_clean/reading.py, ``read_partition``):

* CSV: the records a CSV parser honouring the dataset's reader gives (delimiter, quote, escape: doubled quotes when
  escape == quote, else the escape character; quoted values may span lines; the line separator is the file's
  first one, as Spark's multi-line reader detects it), without blank lines (empty, or only spaces and tabs
  outside quotes), the ``skip_rows`` lines and the header record (each file has its own, after any blank lines).
  A file whose first record is not text (binary, or another encoding) is read by the job line by line, every
  line a reject: then lines are counted (``\\n``, ``\\r\\n`` or ``\\r`` ends one, as Hadoop's line reader).
* JSON lines: the non-blank lines. A JSON document (array layout) of at most 16 MiB: the objects of its top-level
  array (an object alone: 1), parsed one by one; a larger one is not counted (its elements must be parsed).
* Parquet: the footer's ``num_rows``.
* Files Spark does not read (a path part starting with ``_`` or ``.``): 0.

Speed: the counter sees the same chunks as the hash, at C speed (``bytes.translate``, ``split``, ``count``), never
a Python loop per line. Each byte becomes a class letter; quoted sections (found by the parity of the quote bytes)
collapse to one letter; records are then the runs of non-blank letters ending at a line break. Parity equals the
parser only when every opening quote starts a field: a quote inside an unquoted value (``ab"c``), after a blank
(``␣"a"``) or, with a backslash escape, right after a closing quote, makes the file uncounted rather than guessed.
Only encodings whose ASCII bytes always mean ASCII characters (UTF-8, single-byte code pages) can be counted so.

A counter never raises into the backup: a file it cannot count exactly gets ``records`` None and a note saying why.
"""
from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import logging
import operator
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# What the job reads of each file to find its header or JSON layout (reading.HEAD_BYTES).
HEAD_BYTES = 1 << 20
UTF8_BOM = codecs.BOM_UTF8
# Hadoop decompresses these by their name: the bytes the backup reads are not the ones the job parses.
COMPRESSED = (".gz", ".bz2", ".deflate", ".lz4", ".snappy", ".zst", ".zstd", ".xz", ".br")
# How a count was made (the manifest's files[].records_method).
CSV_RECORDS, TEXT_LINES, JSON_LINES, JSON_ARRAY, PARQUET_FOOTER, NOT_READ = (
    "csv-records", "text-lines", "json-lines", "json-array-elements", "parquet-footer", "not-read-by-the-job")
DOCUMENT_MAX = 16 << 20  # a JSON document counted by parsing it: as large as a file the backup reads whole


@dataclass(frozen=True)
class Counted:
    """One file's count: ``records`` with the ``method``, or None with the ``note`` saying why not."""

    records: int | None
    method: str | None = None
    note: str | None = None

    def fields(self) -> dict[str, Any]:
        """The manifest entry's fields."""
        if self.records is None:
            return {"records": None, "records_note": self.note}
        return {"records": self.records, "records_method": self.method}


def uncounted(note: str) -> Counted:
    return Counted(None, note=note)


@dataclass(frozen=True)
class RecordRules:
    """What a dataset's files are, as the job reads them: ``format`` and the reader options (defaults filled)."""

    format: str
    reader: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, dataset: Any) -> RecordRules:
        """From a configured dataset (indata_ops.config.Dataset: ``format``, ``reader``)."""
        return cls(dataset.format, dict(dataset.reader))

    def counter(self, relative_path: str, path: Path | None = None) -> RecordCounter:
        """A counter for one file, fed its chunks in order. ``path`` is the local file (Parquet's footer)."""
        if not self.format:
            return _Fixed(uncounted("the backup was given no dataset format to count by"))
        if any(part.startswith(("_", ".")) for part in relative_path.split("/")):
            return _Fixed(Counted(0, NOT_READ))
        if relative_path.lower().endswith(COMPRESSED):
            return _Fixed(uncounted(f"compressed ({relative_path.rsplit('.', 1)[-1]}): the job reads the "
                                    "decompressed bytes, the backup does not decompress them"))
        if self.format == "csv":
            return _Guarded(_CsvCounter(self.reader), relative_path)
        if self.format == "json":
            return _Guarded(_JsonCounter(self.reader.get("layout", "auto")), relative_path)
        if self.format == "parquet":
            return _Guarded(_ParquetCounter(path), relative_path)
        return _Fixed(uncounted(f"format {self.format!r} is not counted"))


class RecordCounter:
    """Fed a file's chunks in order (``update``), then asked once (``result``)."""

    def update(self, chunk: bytes) -> None:
        raise NotImplementedError

    def result(self) -> Counted:
        raise NotImplementedError


class _Fixed(RecordCounter):
    def __init__(self, counted: Counted):
        self.counted = counted

    def update(self, chunk: bytes) -> None:
        pass

    def result(self) -> Counted:
        return self.counted


class _Guarded(RecordCounter):
    """Turns a counter's failure into an uncounted file: a count is a check's input, never a reason to fail the
    backup (its bytes are sent whatever they hold)."""

    def __init__(self, inner: RecordCounter, relative_path: str):
        self.inner: RecordCounter | None = inner
        self.relative_path = relative_path
        self.failure: str | None = None

    def update(self, chunk: bytes) -> None:
        if self.inner is None:
            return
        try:
            self.inner.update(chunk)
        except Exception as error:  # noqa: BLE001 - recorded as the file's note, logged
            self._failed(error)

    def result(self) -> Counted:
        if self.inner is not None:
            try:
                return self.inner.result()
            except Exception as error:  # noqa: BLE001 - recorded as the file's note, logged
                self._failed(error)
        return uncounted(f"the counter failed: {self.failure}")

    def _failed(self, error: Exception) -> None:
        log.warning("Records of %s not counted: %r", self.relative_path, error)
        self.inner, self.failure = None, repr(error)


class _HeadFirst(RecordCounter):
    """A counter that decides how to count from a file's first ``HEAD_BYTES`` (as the job reads them to find a
    header or a layout): they are held until then (``_start``), the rest streams (``_feed``)."""

    def __init__(self) -> None:
        self.head = b""  # a chunk is kept by reference (no copy) until the head is complete
        self.decided: Counted | None = None  # a result known before the end (uncountable, or no records)
        self.started = False

    def update(self, chunk: bytes) -> None:
        if self.decided is not None:
            return
        if not self.started:
            self.head = self.head + chunk if self.head else chunk
            if len(self.head) >= HEAD_BYTES:
                self._start()
            return
        self._feed(chunk)

    def result(self) -> Counted:
        if self.decided is None and not self.started:
            self._start()
        return self.decided if self.decided is not None else self._counted()

    def _start(self) -> None:
        raise NotImplementedError

    def _feed(self, chunk: bytes) -> None:
        raise NotImplementedError

    def _counted(self) -> Counted:
        raise NotImplementedError


# --- CSV -----------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=64)
def _ascii_transparent(encoding: str) -> bool:
    """Whether every byte below 0x80 is that ASCII character wherever it appears: UTF-8, and single-byte code pages
    whose lower half is ASCII (latin-1, windows-1252, ISO-8859-x...). Not UTF-16, Shift_JIS (0x5C as a trail
    byte), GBK..."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig", "ascii"):
        return True
    decoded = bytes(range(256)).decode(name, errors="replace")
    return len(decoded) == 256 and decoded[:128] == bytes(range(128)).decode("ascii")


def _table(mapping: Mapping[int, bytes], default: bytes) -> bytes:
    return b"".join(mapping.get(byte, default) for byte in range(256))


_BLANK_BYTES = b" \t\x0b\x0c"  # Java's \s without the line breaks: what the job's blank-line filter matches
# Letters after which a quote is inside a value (literal to the parser), not the start of a quoted one.
_INSIDE_A_VALUE = (b"x", b"b", b"e")
_ENDS_INSIDE_A_VALUE = operator.methodcaller("endswith", _INSIDE_A_VALUE)
# Quoted sections and every other non-blank letter become x; blanks are deleted: lines are then runs of x.
_COLLAPSE = _table({ord("n"): b"n"}, b"x")


class _CsvCounter(_HeadFirst):
    """The records of one CSV file (see the module's docstring). The first ``HEAD_BYTES`` are held until the
    header is found in them, as the job finds it; the rest streams."""

    def __init__(self, reader: Mapping[str, Any]):
        super().__init__()
        self.reader = reader
        self.encoding = reader.get("encoding", "utf-8")
        self.quote = reader.get("quote", '"')
        self.escape = reader.get("escape", '"')
        self.delimiter = reader.get("delimiter", ",")
        self.lines_only = False  # a file the job reads line by line
        self.quoted_state = _QuotedState()
        self.line_state = _LineState()

    def _counted(self) -> Counted:
        if self.lines_only:
            return Counted(self.line_state.finish(), TEXT_LINES)
        return Counted(self.quoted_state.finish(), CSV_RECORDS)

    def _start(self) -> None:
        head, self.head = self.head, b""
        try:
            start = _header_end(head[:HEAD_BYTES], self.reader)
        except ValueError as error:
            self.decided = uncounted(f"the job fails on this file: {error}")
            return
        self.started = True
        if start is None:  # not text: the job makes every line a reject
            self.lines_only = True
            self.line_state.feed(head)
            return
        offset, fields = start
        if fields is None:  # no record at all
            self.decided = Counted(0, CSV_RECORDS)
            return
        if not _ascii_transparent(self.encoding):
            self.decided = uncounted(f"encoding {self.encoding} is not counted byte by byte (its bytes below 0x80 "
                                     "are not always ASCII characters)")
            return
        # A one-field layout takes a line of spaces for a value (Spark's filter drops only malformed blank lines).
        self.quoted_state = _QuotedState(self.delimiter, self.quote, self.escape, len(fields) == 1, _separator(head))
        if not self.reader.get("header", True) and not self.reader.get("skip_rows", 0):
            offset = _after_bom(head, self.encoding)  # the first record is data
        self._feed(head[offset:])

    def _feed(self, chunk: bytes) -> None:
        if self.lines_only:
            self.line_state.feed(chunk)
            return
        problem = self.quoted_state.feed(chunk)
        if problem:
            self.decided = uncounted(problem)


@functools.lru_cache(maxsize=64)
def _classes(delimiter: str, quote: str, escape: str, separator: bytes) -> bytes:
    """The translation of bytes into letters (s delimiter, q quote, e escape, n line break, b blank, x other)."""
    mapping = {ord(blank): b"b" for blank in _BLANK_BYTES.decode()}
    mapping[ord("\r")] = b"b"  # part of "\r\n", or a character a blank line may hold (Java's \s has it)
    mapping[ord("\n")] = b"n"
    if separator == b"\r":
        mapping[ord("\r")], mapping[ord("\n")] = b"n", b"x"
    mapping[ord(delimiter)] = b"s"
    if escape != quote:
        mapping[ord(escape)] = b"e"
    mapping[ord(quote)] = b"q"
    return _table(mapping, b"x")


@functools.lru_cache(maxsize=64)
def _collapsing(classes: bytes) -> bytes:
    """Bytes straight to the letters x and n (``classes`` then ``_COLLAPSE``), for text without quotes."""
    return classes.translate(_COLLAPSE)


@functools.lru_cache(maxsize=64)
def _blank_bytes(classes: bytes) -> bytes:
    return bytes(byte for byte in range(256) if classes[byte] == ord("b"))


def _squeezed(letters: bytes, letter: bytes) -> bytes:
    """``letters`` with each run of ``letter`` made one."""
    pair = letter * 2
    while pair in letters:
        letters = letters.replace(pair, letter)
    return letters


def _after_bom(head: bytes, encoding: str) -> int:
    return len(UTF8_BOM) if codecs.lookup(encoding).name.startswith("utf-8") and head.startswith(UTF8_BOM) else 0


def _separator(head: bytes) -> bytes:
    """The file's line separator as Spark's multi-line CSV reader detects it: its first line break."""
    match = re.search(rb"\r\n?|\n", head)
    return match.group() if match else b"\n"


class _QuotedState:
    """Records of CSV text fed in chunks: parity of the quote bytes tells quoted sections, each collapsed to one
    ``q`` in the stream of letters outside quotes; records are the non-blank lines of that stream."""

    def __init__(self, delimiter: str = ",", quote: str = '"', escape: str = '"', one_field: bool = False,
                 separator: bytes = b"\n"):
        self.classes = _classes(delimiter, quote, escape, separator)
        self.quote_byte = quote.encode("latin-1")
        self.escaped = escape != quote
        # Blank letters are deleted before lines are told apart, unless a line of blanks is a value.
        self.deleted = b"" if one_field else b"b"
        self.deleted_bytes = b"" if one_field else _blank_bytes(self.classes)
        self.inside = False
        self.previous = b"n"  # the last letter outside quotes: a record starts the stream
        self.lines = _NonBlankLines()
        self.carried = b""  # escape letters at a chunk's end, paired with the next chunk's first

    def feed(self, chunk: bytes) -> str | None:
        if not (self.inside or self.escaped or self.quote_byte in chunk):
            # No quote: the lines straight from the bytes, one translation instead of two.
            self.previous = chunk[-1:].translate(self.classes) or self.previous
            self.lines.add(chunk.translate(_collapsing(self.classes), self.deleted_bytes))
            return None
        letters = self.carried + chunk.translate(self.classes)
        if self.escaped:
            # Escape letters at the end pair with the next chunk's first letter: held until it comes.
            kept = len(letters) - len(letters.rstrip(b"e"))
            letters, self.carried = letters[:len(letters) - kept], letters[len(letters) - kept:]
        return self._letters(letters)

    def finish(self) -> int:
        """The records, once the whole file has been fed (trailing escapes are plain characters)."""
        if self.carried:
            self._letters(self.carried.replace(b"e", b"x"))
            self.carried = b""
        return self.lines.finish()

    def _letters(self, letters: bytes) -> str | None:
        if self.escaped:
            # An escaped escape, then an escaped quote, are plain characters (Spark's charToEscapeQuoteEscaping).
            letters = letters.replace(b"ee", b"xx").replace(b"eq", b"xx")
        if b"q" in letters:
            parts = letters.split(b"q")
            quotes = len(parts) - 1
            outside = parts[1::2] if self.inside else parts[0::2]
            ends_inside = self.inside != (quotes % 2 == 1)
            stream = b"q".join(outside) + (b"q" if ends_inside and quotes else b"")
            # Each of these ends right before an opening quote: it must end a value (or be empty).
            before_openers = outside if ends_inside else outside[:-1]
            opens_at_start = bool(before_openers) and not self.inside and not before_openers[0]
            if (any(map(_ENDS_INSIDE_A_VALUE, before_openers))
                    or (opens_at_start and self.previous in _INSIDE_A_VALUE)
                    # "a""b" with an escape character: the parser ends the value at the second quote.
                    or (self.escaped and b"qq" in self.previous + stream)):
                return ("a quote that does not start a value (inside an unquoted value, after a blank or, with an "
                        "escape character, right after a closing quote): records are not counted")
            self.inside = ends_inside
        else:
            stream = b"" if self.inside else letters
        if not stream:
            return None
        self.previous = stream[-1:]
        self.lines.add(stream.translate(_COLLAPSE, self.deleted))
        return None


class _NonBlankLines:
    """Non-blank lines of letters x (content) and n (line break) fed in pieces: runs of x ended by n, and a last
    run without one; a run of n holds blank lines. Searches for rare letters (not "xn": x is nearly every letter)
    keep this at C speed."""

    def __init__(self) -> None:
        self.records = 0
        self.last = b"n"  # a line starts the text

    def add(self, lines: bytes) -> None:
        if not lines:
            return
        lines = _squeezed(self.last + lines, b"n")
        self.records += lines.count(b"n") - (lines[:1] == b"n")  # the first letter was counted before
        self.last = lines[-1:]

    def finish(self) -> int:
        return self.records + (self.last == b"x")


class _LineState:
    """Lines as Hadoop's line reader splits them: ``\\n``, ``\\r\\n`` or ``\\r`` ends one; a last line without a
    break counts; empty lines count too (the job's text reader keeps them)."""

    def __init__(self) -> None:
        self.breaks = 0
        self.last = b""

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.breaks += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if self.last == b"\r" and chunk[:1] == b"\n":
            self.breaks -= 1  # "\r\n" split between two chunks
        self.last = chunk[-1:]

    def finish(self) -> int:
        return self.breaks + (self.last not in (b"", b"\n", b"\r"))


# The job's reading of a file's head (include/spark/indata_clean/reading.py: _head_records, _header_fields,
# _is_blank, _is_text), kept here because the backup cannot import the Spark job. tests/plugins/test_record_count.py
# checks the counts against the job's.

def _header_end(head: bytes, reader: Mapping[str, Any]) -> tuple[int, list[str] | None] | None:
    """Where the records after the header start in ``head`` (bytes) and the header's fields as the job finds them;
    (offset, None) when there is no record; None when the first record is not text (the job reads such a file
    line by line). With ``header: false`` the first record's fields are returned (its width)."""
    codec = codecs.lookup(reader.get("encoding", "utf-8")).name
    codec = "utf-8" if codec == "utf-8-sig" else codec  # the BOM is kept here, to count its bytes
    skip_rows = reader.get("skip_rows", 0)
    skipped = 0  # bytes; the skipped lines may hold bytes the encoding cannot decode
    if skip_rows:
        breaks = [match.end() for _, match in zip(range(skip_rows), re.finditer(rb"\n", head))]
        if len(breaks) < skip_rows:
            if len(head) == HEAD_BYTES:
                raise ValueError(f"the {skip_rows} lines before the CSV header are longer than {HEAD_BYTES} bytes")
            return 0, None
        skipped = breaks[-1]
    text = head[skipped:].decode(codec, errors="replace")
    if len(head) == HEAD_BYTES and not re.search(r"[\r\n]", text):
        raise ValueError(f"the CSV header is longer than {HEAD_BYTES} bytes")
    bom = "\ufeff" if text[:1] == "\ufeff" else ""
    physical = _PhysicalLines(text[len(bom):])
    quote, escape = reader.get("quote", '"'), reader.get("escape", '"')
    records = csv.reader(physical, delimiter=reader.get("delimiter", ","), quotechar=quote,
                         doublequote=escape == quote, escapechar=None if escape == quote else escape)
    try:
        fields = next(records)
        while _is_blank(fields):
            fields = next(records)
    except StopIteration:
        return 0, None
    except csv.Error:  # e.g. a NUL byte: not a header
        return None
    if not all(_is_text(name) for name in fields):
        return None
    # Before the header's end the text decoded cleanly (a replacement character is no text): its bytes re-encode.
    return skipped + len((bom + physical.consumed).encode(codec)), fields


class _PhysicalLines:
    """The lines of ``text`` as ``io.StringIO(text, newline="")`` gives them to the csv module, and how much of the
    text has been handed out."""

    def __init__(self, text: str):
        self.lines: Iterator[str] = iter(io.StringIO(text, newline=""))
        self.consumed = ""

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.consumed += line
        return line


def _is_blank(record: Sequence[str]) -> bool:
    return len(record) <= 1 and not "".join(record).strip()


def _is_text(value: str) -> bool:
    return not any(char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\t\r\n")
                   for char in value)


# --- JSON and Parquet ----------------------------------------------------------------------------------------------

# Lines are runs of x between line breaks once blanks (JSON's whitespace) are deleted.
_JSON_LINES = _table({ord("\n"): b"n", ord("\r"): b"n"}, b"x")


class _JsonCounter(_HeadFirst):
    """JSON lines: the non-blank lines (Spark's JSON reader gives no row for a line of whitespace). A JSON document
    (array layout) of at most ``DOCUMENT_MAX`` bytes: the elements of its top-level array of objects (one object
    alone: 1), parsed element by element; anything else (other values, bad JSON, a larger file) is not counted."""

    def __init__(self, layout: str):
        super().__init__()
        self.layout = layout
        self.lines = _NonBlankLines()
        self.document: list[bytes] | None = None  # the chunks of a JSON document, while it is small enough
        self.document_size = 0

    def _counted(self) -> Counted:
        if self.document is not None:
            return _document_records(b"".join(self.document))
        return Counted(self.lines.finish(), JSON_LINES)

    def _start(self) -> None:
        head, self.head = self.head, b""
        layout = self.layout if self.layout != "auto" else _json_layout(head[:HEAD_BYTES])
        if layout is None:
            self.decided = Counted(0, JSON_LINES)
        elif layout != "lines":
            self.started, self.document = True, []
            self._feed(head)
        else:
            self.started = True
            self._feed(head[len(UTF8_BOM):] if head.startswith(UTF8_BOM) else head)

    def _feed(self, chunk: bytes) -> None:
        if self.document is None:
            self.lines.add(chunk.translate(_JSON_LINES, b" \t"))
            return
        self.document.append(chunk)
        self.document_size += len(chunk)
        if self.document_size > DOCUMENT_MAX:
            self.document = None
            self.decided = uncounted(f"a JSON document (array layout) larger than {DOCUMENT_MAX // (1 << 20)} MiB: "
                                     "its elements are counted only in smaller files (they must be parsed)")


def _document_records(data: bytes) -> Counted:
    """The rows Spark's multi-line JSON reader makes of a document: one per object of a top-level array, 1 for an
    object alone; uncounted for anything else (a value that is no object, bad JSON: Spark's answer then depends
    on its parser's leniency)."""
    decoder = json.JSONDecoder()
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError:
        return uncounted("a JSON document that is not UTF-8")
    position = _skip_blank(text, 0)
    records = 0
    try:
        if text.startswith("{", position):
            _, position = decoder.raw_decode(text, position)
            records = 1
        elif text.startswith("[", position):
            position = _skip_blank(text, position + 1)
            closed = text.startswith("]", position)
            position += closed
            while not closed:
                value, position = decoder.raw_decode(text, position)
                if not isinstance(value, dict):
                    return uncounted("a JSON array whose elements are not all objects")
                records += 1
                position = _skip_blank(text, position)
                if not text.startswith((",", "]"), position):
                    return uncounted("not a well-formed JSON array")
                closed = text[position] == "]"
                position = position + 1 if closed else _skip_blank(text, position + 1)
        else:
            return uncounted("a JSON document that is neither an array nor an object")
    except json.JSONDecodeError as error:
        return uncounted(f"not well-formed JSON ({error})")
    if _skip_blank(text, position) != len(text):
        return uncounted("more than one JSON value in the document")
    return Counted(records, JSON_ARRAY)


def _skip_blank(text: str, position: int) -> int:
    return len(text) - len(text[position:].lstrip(" \t\r\n"))


def _json_layout(head: bytes) -> str | None:
    """As the job's ``reading.json_layout``."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text:
        return None
    first_line = text.splitlines()[0].strip()
    return "array" if text.startswith("[") or first_line == "{" else "lines"


class _ParquetCounter(RecordCounter):
    """The footer's ``num_rows``, read from the local file once its bytes have been read (a few KiB more)."""

    def __init__(self, path: Path | None):
        self.path = path

    def update(self, chunk: bytes) -> None:
        pass

    def result(self) -> Counted:
        if self.path is None:
            return uncounted("no local path to read the Parquet footer from")
        try:
            import pyarrow.parquet as pq
        except ImportError:
            return uncounted("pyarrow is not installed: the Parquet footer is not read")
        try:
            return Counted(pq.ParquetFile(self.path).metadata.num_rows, PARQUET_FOOTER)
        except Exception as error:  # noqa: BLE001 - not Parquet: the job fails on it, the backup does not
            return uncounted(f"not a readable Parquet file: {error}")
