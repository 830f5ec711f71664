"""Read untrusted YAML within limits: file size, nesting depth, alias expansion, strings, numbers.

A scenario file (or a `--set` value) is checked before and while it is parsed, so that no input can
hang the parser, exhaust memory or reach the model as something Python cannot handle:

- the path must name a regular file of at most `MAX_FILE_BYTES`, checked before it is opened (a FIFO
  or `/dev/zero` would block or never end) and read with a bounded read;
- the YAML is composed by PyYAML's pure-Python `SafeLoader`, subclassed to count nodes with every
  alias expanded (billion laughs), to limit nesting depth (the composer recurses), to refuse
  duplicate keys (YAML says they are an error; PyYAML keeps the last silently), aliases inside their
  own anchor (cycles), text that is not valid Unicode or holds control characters, and numbers that
  are not finite or do not fit 64 bits.

Every refusal is a `ConfigError` naming the file, line, column and the field path.
"""

from __future__ import annotations

import math
import os
import stat
import unicodedata
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from twin.config.errors import problem
from twin.config.limits import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_ID_CHARS,
    MAX_INT_DIGITS,
    MAX_NODES,
    MAX_NUMBER,
    MAX_STRING_CHARS,
)
from twin.errors import ConfigError

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_TEXT_CONTROLS = "\t\n\r"
"""Control characters a text value may hold (a key or id may hold none)."""


class InputLimitError(Exception):
    """Raised inside the loader: where (path and mark) and what limit the input broke."""

    def __init__(
        self, path: list[str | int], message: str, mark: Any = None, value: Any = ...
    ) -> None:
        super().__init__(message)
        self.path = list(path)
        self.message = message
        self.mark = mark
        self.value = value


def text_problem(text: str, max_chars: int, key: bool) -> str | None:
    """Why `text` cannot be a value (or, `key`, a mapping key or id), or None when it can."""
    if len(text) > max_chars:
        return f"is {len(text)} characters long; at most {max_chars} are allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (it holds a lone surrogate, e.g. from an escape like \\ud83d)"
    allowed = "" if key else _TEXT_CONTROLS
    bad = next((c for c in text if unicodedata.category(c) == "Cc" and c not in allowed), None)
    if bad is not None:
        return f"holds the control character {bad!r}"
    return None


class _Limits(Composer):
    """PyYAML's composer, enforcing the limits of `twin.config.limits` while composing.

    Counting happens in `compose_node`, which sees every node and every alias use once, in file
    order, before any Python object is built: a file that breaks a limit stops at that point.
    """

    def __init__(self) -> None:
        super().__init__()
        self._path: list[str | int] = []
        self._depth = 0
        self._deepest = 0
        self._nodes = 0
        self._extent: dict[int, tuple[int, int]] = {}
        """id(node) → (nodes with aliases expanded, height) of each finished anchored node."""

    # --- counting -------------------------------------------------------------------------

    def _fail(self, message: str, mark: Any, value: Any = ...) -> None:
        raise InputLimitError(self._path, message, mark, value)

    def _grow(self, nodes: int, height: int, mark: Any) -> None:
        """Count `nodes` more nodes reaching `height` levels below the current depth."""
        self._nodes += nodes
        if self._nodes > MAX_NODES:
            self._fail(
                f"makes the file expand to more than {MAX_NODES:,} values (aliases counted "
                "with what they stand for)",
                mark,
            )
        deepest = self._depth + height
        if deepest > MAX_DEPTH:
            self._fail(f"is nested more than {MAX_DEPTH} levels deep", mark)
        self._deepest = max(self._deepest, deepest)

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Compose one node within the limits; `index` is None for a key, the key node or list index."""
        part: str | int | None = None
        if isinstance(parent, SequenceNode):
            part = index
        elif isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            part = index.value
        elif isinstance(parent, MappingNode) and index is not None:
            part = "<key>"
        if part is not None:
            self._path.append(part)
        try:
            return self._compose(parent, index)
        finally:
            if part is not None:
                self._path.pop()

    def _compose(self, parent: Node | None, index: Any) -> Node:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                extent = self._extent.get(id(target))
                if extent is None:
                    self._fail(
                        f"uses the alias *{event.anchor} inside its own anchor", event.start_mark
                    )
                else:
                    self._grow(*extent, mark=event.start_mark)
            return super().compose_node(parent, index)
        event = self.peek_event()
        self._grow(1, 1, event.start_mark)
        outer_deepest, start = self._deepest, self._nodes - 1
        self._deepest = self._depth + 1
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        height = self._deepest - self._depth
        self._deepest = max(outer_deepest, self._deepest)
        if event.anchor is not None:
            self._extent[id(node)] = (self._nodes - start, height)
        is_key = isinstance(parent, MappingNode) and index is None
        if isinstance(node, ScalarNode):
            self._check_scalar(node, is_key)
        elif isinstance(node, MappingNode):
            self._check_keys(node)
        return node

    # --- values ---------------------------------------------------------------------------

    def _check_scalar(self, node: ScalarNode, is_key: bool) -> None:
        if is_key and node.tag == _MERGE:
            return
        text = node.value
        if is_key or node.tag == _STR:
            reason = text_problem(text, MAX_ID_CHARS if is_key else MAX_STRING_CHARS, is_key)
            if reason:
                self._fail(("has a key that " if is_key else "") + reason, node.start_mark, text)
        if node.tag == _INT:
            digits = sum(c.isalnum() for c in text)
            if digits > MAX_INT_DIGITS:
                self._fail(
                    f"has {digits} digits; at most {MAX_INT_DIGITS} are allowed", node.start_mark
                )
            number = self.construct_yaml_int(node)
            if abs(number) > MAX_NUMBER:
                self._fail(f"must be within ±{MAX_NUMBER:,}", node.start_mark, number)
        elif node.tag == _FLOAT:
            if len(text) > 100:
                self._fail("is a number written with more than 100 characters", node.start_mark)
            number = self.construct_yaml_float(node)
            if not math.isfinite(number):
                self._fail("must be a finite number", node.start_mark, text)
            if abs(number) > MAX_NUMBER:
                self._fail(f"must be within ±{MAX_NUMBER:.3g}", node.start_mark, number)
        elif node.tag == _TIMESTAMP:
            try:
                self.construct_yaml_timestamp(node)
            except (ValueError, OverflowError) as exc:
                self._fail(f"is not a valid date or time: {exc}", node.start_mark, text)

    def _check_keys(self, node: MappingNode) -> None:
        """YAML forbids a key twice in one mapping; PyYAML would keep the last one silently."""
        seen: dict[tuple[str, str], Any] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE:
                continue
            if (key.tag, key.value) in seen:
                first = seen[(key.tag, key.value)]
                raise InputLimitError(
                    [*self._path, key.value],
                    f"is given twice in one mapping (first at line {first.line + 1}); "
                    "a key may appear once",
                    key.start_mark,
                )
            seen[(key.tag, key.value)] = key.start_mark


class YamlSyntaxError(ConfigError):
    """The text is not YAML at all (as opposed to YAML that breaks a limit)."""


class LimitedLoader(_Limits, Reader, Scanner, Parser, SafeConstructor, Resolver):
    """`SafeLoader` (pure Python) with the limits: used when PyYAML was built without libyaml."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Limits.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class FastLimitedLoader(_Limits, CParser, SafeConstructor, Resolver):
        """The same limits over libyaml's scanner and parser (about 20 times faster).

        Only the events come from C; composing (where the limits are counted) stays in Python.
        """

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Limits.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _LOADER: type[LimitedLoader] | type[FastLimitedLoader] = FastLimitedLoader
else:  # pragma: no cover - PyYAML without libyaml
    _LOADER = LimitedLoader


def _where(source: str, mark: Any) -> str:
    return f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML `text` within the limits; any problem is a `ConfigError` naming `source`."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{source}: is {len(text):,} characters long; at most {MAX_FILE_BYTES:,} are allowed"
        )
    loader = _LOADER(text)
    try:
        return loader.get_single_data()
    except InputLimitError as exc:
        raise ConfigError(
            problem(_where(source, exc.mark), exc.path, exc.message, exc.value)
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(f"{_where(source, mark)}: not valid YAML: {what}") from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        # a constructor refusing a value the resolver accepted; no input should get here
        raise YamlSyntaxError(
            f"{source}: not valid YAML: {type(exc).__name__}: {exc}"[:300]
        ) from None
    finally:
        loader.dispose()


def read_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `max_bytes`; anything else is a `ConfigError`.

    The file is checked with `stat` before it is opened (opening a FIFO blocks; `/dev/zero` never
    ends), opened non-blocking, and read with a bounded read in case it grew meanwhile.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a folder, not a scenario file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: is not a regular file (a device, FIFO or socket)")
    limit = f"at most {max_bytes / 2**20:g} MB ({max_bytes:,} bytes) is read"
    if info.st_size > max_bytes:
        raise ConfigError(f"{path}: is {info.st_size:,} bytes; {limit}")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise ConfigError(f"{path}: is more than {max_bytes:,} bytes; {limit}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})"
        ) from None


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file within the limits.

    A missing, special, huge or unparsable file is a `ConfigError` naming it.
    """
    return parse_yaml(read_text(path), str(path))
