"""Strict parsing of profile files: JSON (a bare OCI/Docker profile) and YAML (one or more manifests).

Why strict: the runtimes decode with Go's encoding/json, where the last of two duplicate keys wins silently
(golang/go#28190). A validator that kept the first, or a person who edits the first, would be looking at a profile
the node never runs; so a duplicate key is an error, reported with the pointer of the second occurrence.

Why a file Python can read may still be refused: Go's encoding/json (containerd and CRI-O read profiles with it)
refuses a UTF-8 byte-order mark, `NaN` and `Infinity`, and anything after the first JSON value, all of which Python's
json accepts or can be made to. Each is a `ParseError` with its own code and the line and column where it is.

The input is bytes or text that the shell has read; nothing here touches a file. `ParseError` means the file as a
whole cannot be read as a profile (lint reports it as an error at its position); everything else is a finding on a
`Document`. A document also maps pointers to their line and column in the text (`Document.locate`).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from json.scanner import NUMBER_RE
from typing import Any, Literal

import yaml

from seccomp_operator.profile.findings import Finding, error, join, split

# Deep enough for any profile (they nest five levels); shallow enough that a hostile file cannot exhaust the stack.
_MAX_DEPTH = 64
# YAML aliases can expand a small file exponentially ("billion laughs"); stop long before memory is at risk.
_MAX_NODES = 100_000

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOM = "\ufeff"
# The json module's string scanner (C when available): (text, offset after the opening quote) -> (value, end).
_scanstring: Callable[[str, int], tuple[str, int]] = getattr(json.decoder, "scanstring")  # noqa: B009
_GO_REFUSES = "Go's encoding/json (containerd, CRI-O) refuses the file, so every container using it fails to start"

Position = tuple[int, int]  # (line, column), both from 1


class ParseError(ValueError):
    """The file cannot be read as JSON or YAML the way the runtimes read it (or is too large or deep to be a
    profile). `code` names the reason; `line` and `column` (from 1) say where, when known."""

    def __init__(self, message: str, *, code: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Document:
    index: int  # 1-based position in the file
    format: Literal["json", "yaml"]
    kind: Literal["profile", "resource"]
    data: object
    findings: tuple[Finding, ...]  # parse-level findings (duplicate keys, ...), pointers relative to `data`
    positions: Mapping[str, Position] = field(default_factory=dict, compare=False, repr=False)

    @property
    def label(self) -> str:
        """How lint output names the document: `doc2` in a YAML stream, nothing for a JSON file (one document)."""
        return f"doc{self.index}" if self.format == "yaml" else ""

    def locate(self, pointer: str) -> Position | None:
        """Line and column of the value at `pointer`, or of its nearest ancestor that exists (a missing field is
        reported where it would go)."""
        tokens = split(pointer)
        while True:
            found = self.positions.get(join("", *tokens))
            if found is not None or not tokens:
                return found
            tokens.pop()


def decode(data: bytes) -> str:
    """UTF-8 text of a file, or a ParseError at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ParseError(
            f"the file is not UTF-8 text (byte {data[exc.start]:#04x}); JSON and YAML are UTF-8, and {_GO_REFUSES} "
            "or reads something else than written",
            code="not-utf8",
            line=line,
            column=column,
        ) from None


def parse_documents(text: str, *, filename: str) -> list[Document]:
    """Parse a file's text. A `.json` file must be JSON; otherwise JSON is tried first, then YAML."""
    stripped = text.lstrip(_BOM + " \t\r\n")
    if not stripped:
        raise ParseError(
            'the file is empty; containerd refuses an empty profile ("unexpected end of JSON input")',
            code="empty-file",
            line=1,
            column=1,
        )
    looks_json = filename.lower().endswith(".json") or stripped[0] in "{["
    if looks_json:
        try:
            if text.startswith(_BOM):
                raise ParseError(
                    "the file starts with a UTF-8 byte-order mark (bytes EF BB BF); "
                    f"{_GO_REFUSES} (\"invalid character 'ï' looking for beginning of value\"). Save it without one.",
                    code="byte-order-mark",
                    line=1,
                    column=1,
                )
            data, findings = _load_json(text)
        except ParseError as json_error:
            if filename.lower().endswith(".json") or json_error.code in ("byte-order-mark", "json-constant"):
                raise
            try:
                return _load_yaml(text)
            except ParseError:
                raise json_error from None
        return [Document(1, "json", _kind(data), data, tuple(findings), _JsonPositions(text))]
    return _load_yaml(text)


def _kind(data: object) -> Literal["profile", "resource"]:
    return "resource" if isinstance(data, dict) and ("apiVersion" in data or "kind" in data) else "profile"


class _Lines:
    """Offsets in a text to (line, column), both from 1."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def position(self, offset: int) -> Position:
        line = bisect.bisect_right(self._starts, offset)
        return line, offset - self._starts[line - 1] + 1


# --- JSON ---------------------------------------------------------------------------------------------------


class _Pairs(list[tuple[str, object]]):
    """An object's members in document order, kept as pairs so duplicates survive json.loads."""


class _Constant(ValueError):
    """NaN or Infinity met by json.loads (which gives no position: `_JsonScanner` finds it)."""


def _reject_constant(name: str) -> object:
    raise _Constant(name)


def _load_json(text: str) -> tuple[object, list[Finding]]:
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise ParseError("the JSON is nested too deeply to be a profile", code="too-deep") from None
    except _Constant as exc:
        offset = _JsonScanner(text).find_constant()
        line, column = _Lines(text).position(offset) if offset is not None else (None, None)
        raise ParseError(
            f"{exc} is not valid JSON (Python's json reads it, but {_GO_REFUSES}); write a number",
            code="json-constant",
            line=line,
            column=column,
        ) from None
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":
            raise ParseError(
                "a second JSON value starts here, after the first one ended; "
                f'{_GO_REFUSES} ("invalid character ... after top-level value"). A profile file holds one object.',
                code="trailing-data",
                line=exc.lineno,
                column=exc.colno,
            ) from None
        raise ParseError(
            f"not valid JSON: {exc.msg}; {_GO_REFUSES}", code="invalid-json", line=exc.lineno, column=exc.colno
        ) from None
    except ValueError as exc:  # int() refusing a number with thousands of digits
        raise ParseError(f"not valid JSON: {exc}", code="invalid-json") from None
    findings: list[Finding] = []
    return _from_pairs(raw, "", findings, 0), findings


class _JsonScanner:
    """Where each value of a JSON text starts, by pointer: a second, position-keeping pass over text that json.loads
    has already read (so it need not check the syntax). Run only when a position is asked for."""

    _WS = re.compile(r"[ \t\n\r]*")
    _LITERAL = re.compile(r"true|false|null|NaN|-?Infinity")

    def __init__(self, text: str) -> None:
        self.text = text
        self.offsets: dict[str, int] = {}
        self.constant: int | None = None

    def scan(self) -> dict[str, int]:
        self._value(0, "")
        return self.offsets

    def find_constant(self) -> int | None:
        try:
            self.scan()
        except (IndexError, ValueError, RecursionError):
            pass
        return self.constant

    def _skip(self, i: int) -> int:
        match = self._WS.match(self.text, i)
        assert match is not None
        return match.end()

    def _value(self, i: int, pointer: str) -> int:
        text = self.text
        i = self._skip(i)
        self.offsets[pointer] = i
        char = text[i]
        if char == "{":
            i = self._skip(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                key, i = _scanstring(text, self._skip(i) + 1)
                i = self._skip(i) + 1  # the colon
                i = self._skip(self._value(i, join(pointer, key)))
                if text[i] == "}":
                    return i + 1
                i += 1  # the comma
        if char == "[":
            i = self._skip(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                i = self._skip(self._value(i, join(pointer, index)))
                if text[i] == "]":
                    return i + 1
                i, index = i + 1, index + 1
        if char == '"':
            return _scanstring(text, i + 1)[1]
        number = NUMBER_RE.match(text, i)
        literal = self._LITERAL.match(text, i)
        if literal is not None and (number is None or literal.end() > number.end()):
            if literal.group() not in ("true", "false", "null") and self.constant is None:
                self.constant = i
                raise ValueError("constant")
            return literal.end()
        assert number is not None
        return number.end()


class _JsonPositions(Mapping[str, Position]):
    """Pointer -> (line, column) of a JSON document, computed on first use (lint asks only when it reports)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._positions: dict[str, Position] | None = None

    def _get(self) -> dict[str, Position]:
        if self._positions is None:
            lines = _Lines(self._text)
            offsets = _JsonScanner(self._text).scan()
            self._positions = {pointer: lines.position(offset) for pointer, offset in offsets.items()}
        return self._positions

    def __getitem__(self, pointer: str) -> Position:
        return self._get()[pointer]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def _from_pairs(value: object, pointer: str, findings: list[Finding], depth: int) -> object:
    if depth > _MAX_DEPTH:
        raise ParseError("the JSON is nested too deeply to be a profile", code="too-deep")
    if isinstance(value, _Pairs):
        result: dict[str, object] = {}
        for key, item in value:
            child = join(pointer, key)
            if key in result:
                findings.append(_duplicate(child, key))
            result[key] = _from_pairs(item, child, findings, depth + 1)
        return result
    if isinstance(value, list):
        return [_from_pairs(item, join(pointer, i), findings, depth + 1) for i, item in enumerate(value)]
    return value


def _duplicate(pointer: str, key: str) -> Finding:
    return error(
        pointer,
        "duplicate-key",
        f"key `{key}` appears twice in the same object; Go's encoding/json (containerd, CRI-O, runc) silently "
        "keeps the last one, so the file does not mean what its first occurrence says. Keep one.",
    )


# --- YAML ---------------------------------------------------------------------------------------------------


def _load_yaml(text: str) -> list[Document]:
    loader = _Loader(text)
    documents: list[Document] = []
    try:
        position = 0
        while loader.check_node():
            node = loader.get_node()
            position += 1
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
                continue  # an empty document between two `---` lines
            findings: list[Finding] = []
            converter = _Converter(loader, findings)
            data = converter.convert(node, "", 0)
            documents.append(Document(position, "yaml", _kind(data), data, tuple(findings), converter.positions))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        raise ParseError(
            f"not valid YAML: {problem}" + (f" ({context})" if context else ""),
            code="invalid-yaml",
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ) from None
    finally:
        loader.dispose()
    if not documents:
        raise ParseError("the file holds no YAML document", code="empty-file", line=1, column=1)
    return documents


class _Converter:
    """Turns a composed YAML node tree into plain dicts and lists, tracking the pointer and position of every key."""

    def __init__(self, loader: Any, findings: list[Finding]) -> None:
        self._loader = loader
        self._findings = findings
        self._nodes = 0
        self.positions: dict[str, Position] = {}

    def convert(self, node: Any, pointer: str, depth: int) -> object:
        self._nodes += 1
        if self._nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise ParseError(
                "the YAML is too large or nested too deeply (or expands aliases without end)", code="too-deep"
            )
        self.positions.setdefault(pointer, (node.start_mark.line + 1, node.start_mark.column + 1))
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise self._unsupported(node, pointer)
            return self._mapping(node, pointer, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise self._unsupported(node, pointer)
            return [self.convert(item, join(pointer, i), depth + 1) for i, item in enumerate(node.value)]
        value: object = self._loader.construct_object(node, deep=True)
        return value

    @staticmethod
    def _unsupported(node: Any, pointer: str) -> ParseError:
        return ParseError(
            f"unsupported YAML tag {node.tag} at {pointer or 'the document root'}",
            code="invalid-yaml",
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
        )

    def _mapping(self, node: Any, pointer: str, depth: int) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self._findings.append(
                    error(
                        join(pointer, "<<"),
                        "yaml-merge-key",
                        "YAML merge keys (`<<`) are not supported here; write the keys out, so the manifest "
                        "reads the same to every tool",
                    )
                )
                continue
            key = self.convert(key_node, pointer, depth + 1)
            if not isinstance(key, str):
                self._findings.append(
                    error(
                        join(pointer, str(key)),
                        "wrong-type",
                        f"keys must be strings, not {_yaml_type(key)} `{key}`; JSON has only string keys",
                    )
                )
                key = str(key)
            child = join(pointer, key)
            if key in result:
                self._findings.append(_duplicate(child, key))
            # A finding about a key points at the key (the later one, for a duplicate: the one Go keeps).
            self.positions[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = self.convert(value_node, child, depth + 1)
        return result


def _yaml_type(value: object) -> str:
    return type(value).__name__
