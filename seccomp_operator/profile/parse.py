"""Strict parsing of profile files: JSON (a bare OCI/Docker profile) and YAML (one or more manifests).

Why strict: the runtimes decode with Go's encoding/json, where the last of two duplicate keys wins silently
(golang/go#28190). A validator that kept the first, or a person who edits the first, would be looking at a profile
the node never runs; so a duplicate key is an error, reported with the pointer of the second occurrence.

The input is text that the shell has read; nothing here touches a file. `ParseError` means "not JSON or YAML at
all" (the CLI exits 2); everything else is a finding on a `Document`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from seccomp_operator.profile.findings import Finding, error, join

# Deep enough for any profile (they nest five levels); shallow enough that a hostile file cannot exhaust the stack.
_MAX_DEPTH = 64
# YAML aliases can expand a small file exponentially ("billion laughs"); stop long before memory is at risk.
_MAX_NODES = 100_000

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ParseError(ValueError):
    """The text is not JSON or YAML (or is too large or deep to be a profile)."""


@dataclass(frozen=True, slots=True)
class Document:
    index: int  # 1-based position in the file
    format: Literal["json", "yaml"]
    kind: Literal["profile", "resource"]
    data: object
    findings: tuple[Finding, ...]  # parse-level findings (duplicate keys, ...), pointers relative to `data`

    @property
    def label(self) -> str:
        """How lint output names the document: `doc2` in a YAML stream, nothing for a JSON file (one document)."""
        return f"doc{self.index}" if self.format == "yaml" else ""


def parse_documents(text: str, *, filename: str) -> list[Document]:
    """Parse a file's text. A `.json` file must be JSON; otherwise JSON is tried first, then YAML."""
    stripped = text.lstrip()
    if not stripped:
        raise ParseError("the file is empty")
    looks_json = filename.lower().endswith(".json") or stripped[0] in "{["
    if looks_json:
        try:
            data, findings = _load_json(text)
        except ParseError as json_error:
            if filename.lower().endswith(".json"):
                raise
            try:
                return _load_yaml(text)
            except ParseError:
                raise json_error from None
        return [Document(1, "json", _kind(data), data, tuple(findings))]
    return _load_yaml(text)


def _kind(data: object) -> Literal["profile", "resource"]:
    return "resource" if isinstance(data, dict) and ("apiVersion" in data or "kind" in data) else "profile"


# --- JSON ---------------------------------------------------------------------------------------------------


class _Pairs(list[tuple[str, object]]):
    """An object's members in document order, kept as pairs so duplicates survive json.loads."""


def _reject_constant(name: str) -> object:
    # Python accepts NaN and Infinity; Go's encoding/json (and JSON itself) does not.
    raise ParseError(f"{name} is not valid JSON")


def _load_json(text: str) -> tuple[object, list[Finding]]:
    try:
        raw = json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant)
    except RecursionError:
        raise ParseError("the JSON is nested too deeply to be a profile") from None
    except ValueError as exc:  # JSONDecodeError, and int() refusing a number with thousands of digits
        if isinstance(exc, ParseError):
            raise
        raise ParseError(f"not valid JSON: {exc}") from None
    findings: list[Finding] = []
    return _from_pairs(raw, "", findings, 0), findings


def _from_pairs(value: object, pointer: str, findings: list[Finding], depth: int) -> object:
    if depth > _MAX_DEPTH:
        raise ParseError("the JSON is nested too deeply to be a profile")
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
            data = _Converter(loader, findings).convert(node, "", 0)
            documents.append(Document(position, "yaml", _kind(data), data, tuple(findings)))
    except yaml.YAMLError as exc:
        raise ParseError(f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not documents:
        raise ParseError("the file holds no YAML document")
    return documents


class _Converter:
    """Turns a composed YAML node tree into plain dicts and lists, tracking the pointer of every key."""

    def __init__(self, loader: Any, findings: list[Finding]) -> None:
        self._loader = loader
        self._findings = findings
        self._nodes = 0

    def convert(self, node: Any, pointer: str, depth: int) -> object:
        self._nodes += 1
        if self._nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise ParseError("the YAML is too large or nested too deeply (or expands aliases without end)")
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise ParseError(f"unsupported YAML tag {node.tag} at {pointer or 'the document root'}")
            return self._mapping(node, pointer, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise ParseError(f"unsupported YAML tag {node.tag} at {pointer or 'the document root'}")
            return [self.convert(item, join(pointer, i), depth + 1) for i, item in enumerate(node.value)]
        value: object = self._loader.construct_object(node, deep=True)
        return value

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
            result[key] = self.convert(value_node, child, depth + 1)
        return result


def _yaml_type(value: object) -> str:
    return type(value).__name__
