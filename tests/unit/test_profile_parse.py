"""Strict JSON/YAML parsing: duplicates with pointers, documents of a YAML stream, and refusals."""

from __future__ import annotations

import pytest

from seccomp_operator.profile import ParseError, parse_documents


def test_json_duplicates_are_reported_at_the_second_occurrence_and_last_wins() -> None:
    text = '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "names": ["b/c"], "action": "x"}]}'
    (document,) = parse_documents(text, filename="p.json")
    assert document.format == "json" and document.kind == "profile" and document.label == ""
    assert [(f.code, f.pointer) for f in document.findings] == [("duplicate-key", "/syscalls/0/names")]
    assert document.data == {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["b/c"], "action": "x"}]}


def test_pointer_escaping_of_keys() -> None:
    (document,) = parse_documents('{"a/b": {"~x": 1, "~x": 2}}', filename="p.json")
    assert [f.pointer for f in document.findings] == ["/a~1b/~0x"]


def test_yaml_stream_documents_are_numbered_from_one() -> None:
    text = """---
apiVersion: seccomp-operator.io/v1alpha1
kind: SeccompProfile
metadata: {name: a}
spec: {defaultAction: SCMP_ACT_ERRNO}
---
---
apiVersion: seccomp-operator.io/v1alpha1
kind: SeccompProfile
metadata: {name: b}
spec:
  defaultAction: SCMP_ACT_ERRNO
  defaultAction: SCMP_ACT_LOG
"""
    documents = parse_documents(text, filename="p.yaml")
    assert [(d.index, d.kind, d.label) for d in documents] == [(1, "resource", "doc1"), (3, "resource", "doc3")]
    assert [(f.code, f.pointer) for f in documents[1].findings] == [("duplicate-key", "/spec/defaultAction")]


def test_yaml_bare_profile_and_json_looking_yaml() -> None:
    (document,) = parse_documents("defaultAction: SCMP_ACT_ALLOW\n", filename="-")
    assert document.kind == "profile" and document.data == {"defaultAction": "SCMP_ACT_ALLOW"}
    # Flow-style YAML starts like JSON but is not JSON: falls back to YAML for a non-.json name
    (document,) = parse_documents("{defaultAction: SCMP_ACT_ALLOW}", filename="x.yaml")
    assert document.format == "yaml"


def test_yaml_merge_keys_and_non_string_keys_are_findings() -> None:
    (document,) = parse_documents("base: &b {x: 1}\nother:\n  <<: *b\n7: seven\n", filename="p.yaml")
    assert [(f.code, f.pointer) for f in document.findings] == [
        ("yaml-merge-key", "/other/<<"),
        ("wrong-type", "/7"),
    ]


@pytest.mark.parametrize(
    ("text", "filename", "says"),
    [
        ("", "p.json", "empty"),
        ("   \n", "p.yaml", "empty"),
        ('{"defaultAction": }', "p.json", "not valid JSON"),
        ('{"value": NaN}', "p.json", "NaN"),
        ("a: [1, 2", "p.yaml", "not valid YAML"),
        ("x: !!python/object:os.system 1", "p.yaml", "not valid YAML"),
        ("x: !custom {a: 1}", "p.yaml", "unsupported YAML tag"),
        ("---\n---\n", "p.yaml", "no YAML document"),
        ("[" * 500 + "]" * 500, "p.json", "nested too deeply"),
    ],
)
def test_parse_errors(text: str, filename: str, says: str) -> None:
    with pytest.raises(ParseError, match=says):
        parse_documents(text, filename=filename)


def test_alias_expansion_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    with pytest.raises(ParseError, match="too large"):
        parse_documents("\n".join(lines) + "\n", filename="bomb.yaml")


def test_json_scalars_keep_go_relevant_types() -> None:
    (document,) = parse_documents('{"a": 1.0, "b": 1e2, "c": 18446744073709551616, "d": true}', filename="p.json")
    assert document.data == {"a": 1.0, "b": 100.0, "c": 2**64, "d": True}
    assert isinstance(document.data, dict) and isinstance(document.data["a"], float)
