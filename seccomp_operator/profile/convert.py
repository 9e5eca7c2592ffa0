"""`import`: turn a Docker, Podman/CRI-O, OCI or security-profiles-operator profile into a SeccompProfile manifest.

Docker's format has conditions an OCI profile cannot express (they depend on the node running it). They are resolved
against explicit assumptions, and anything that cannot be resolved without changing what a node enforces is an error
naming the source field, never a silent drop:

- `name` becomes `names`; `comment` is dropped; Podman's `errno`/`defaultErrno` strings become numbers (a fixed
  Linux errno table) and win over `errnoRet`/`defaultErrnoRet`, as in CRI-O.
- `includes.caps`: the rule is kept only when every listed capability is assumed (`--assume-caps`); `excludes.caps`:
  dropped when any listed capability is assumed (moby and CRI-O semantics). Each dropped rule is reported.
- `minKernel` (only dockerd honours it): nodes are assumed to run at least that kernel, so an `includes.minKernel`
  rule is kept and an `excludes.minKernel` rule dropped, each with a warning.
- `archMap` becomes `architectures`: for each node architecture (`--arches`, default x86_64 and aarch64, the
  platforms nearly all Kubernetes nodes run) the entry whose `architecture` it is, plus its `subArchitectures`. Only
  the chosen entries are used: a union over the whole map would mix endiannesses (Docker's default lists MIPS64 and
  S390X), which libseccomp cannot load into one filter, so the profile would fail on every node.
- `includes.arches`/`excludes.arches` are matched, as in Docker, against the node's native architecture. A rule is
  kept when it applies on at least one node architecture. It is an error when, on a node architecture where Docker
  would leave the rule out, one of its syscalls exists on an architecture that node's filter covers and no other rule
  already does the same: there the imported profile would enforce something Docker does not. (Rules for syscalls
  that do not exist there, like `arch_prctl` on arm64, are inert and therefore portable.)
- Afterwards, rules with the same action, errno and conditions are merged into the first of them and repeated names
  dropped: the filter is the same (validated profiles have no contradicting rules, so order does not matter).

The result is validated like any manifest; its findings are reported at the source field they came from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from seccomp_operator.profile import syscalls
from seccomp_operator.profile.arches import ARCHES, lookup_alias
from seccomp_operator.profile.compile import BpfSinkFactory
from seccomp_operator.profile.errnos import errno_number
from seccomp_operator.profile.findings import Finding, error, has_errors, join, split, warning
from seccomp_operator.profile.model import Arg, condition_key, effective_action
from seccomp_operator.profile.resource import (
    API_GROUP,
    KIND,
    SPO_GROUP,
    build_manifest,
    validate_resource,
)
from seccomp_operator.profile.shape import PROFILE_KEYS, check_keys

DEFAULT_NODE_ARCHES = ("SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64")

# Linux capabilities (include/uapi/linux/capability.h), to catch a misspelt --assume-caps.
CAPABILITIES = frozenset(
    (
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    )
)

_DOCKER_TOP_KEYS = (*PROFILE_KEYS, "archMap", "defaultErrno")
_DOCKER_RULE_KEYS = ("names", "name", "action", "errnoRet", "errno", "args", "comment", "includes", "excludes")
_FILTER_KEYS = ("caps", "arches", "minKernel")
_ARCHMAP_KEYS = ("architecture", "subArchitectures")
_KERNEL = re.compile(r"[0-9]+\.[0-9]+")


@dataclass(frozen=True, slots=True)
class ImportOptions:
    assume_caps: frozenset[str] = frozenset()
    # Node architectures (spec names) the profile is made for; None: DEFAULT_NODE_ARCHES found in the archMap.
    node_arches: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Imported:
    manifest: dict[str, object] | None  # None when there is an error
    findings: tuple[Finding, ...]  # pointers into the source document

    @property
    def ok(self) -> bool:
        return not has_errors(self.findings)


def normalize_capability(text: str) -> str | None:
    """`sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` all name CAP_SYS_ADMIN; None for an unknown capability."""
    cap = text.strip().upper()
    cap = cap if cap.startswith("CAP_") else f"CAP_{cap}"
    return cap if cap in CAPABILITIES else None


def import_document(
    data: object,
    *,
    kind: Literal["profile", "resource"],
    name: str | None,
    namespace: str | None,
    options: ImportOptions,
    bpf_sink: BpfSinkFactory | None = None,
) -> Imported:
    """Convert one parsed document (`Document.data`/`Document.kind`) into a validated manifest."""
    out: list[Finding] = []
    labels: Mapping[str, object] | None = None
    annotations: Mapping[str, object] | None = None
    origin: dict[str, str] = {}
    if kind == "resource":
        converted = _from_resource(data, out)
        if converted is None:
            return Imported(None, tuple(out))
        spec, metadata = converted
        name = name or _str_or_none(metadata.get("name"))
        namespace = namespace or _str_or_none(metadata.get("namespace"))
        labels = _map_or_none(metadata.get("labels"))
        annotations = _map_or_none(metadata.get("annotations"))
        for key in spec:
            origin[join("/spec", key)] = join("/spec", key)
    else:
        converter = _DockerConverter(data, options, out)
        spec = converter.run()
        origin = converter.origin
    if name is None:
        out.append(error("", "missing-name", "the imported profile needs a name: pass --name"))
    if has_errors(out) or name is None:
        return Imported(None, tuple(out))

    manifest = build_manifest(name=name, namespace=namespace, spec=spec, labels=labels, annotations=annotations)
    validation = validate_resource(manifest, bpf_sink=bpf_sink)
    for finding in validation.findings:
        out.append(_relocate(finding, origin, keep_spec=kind == "resource"))
    return Imported(manifest if validation.ok and not has_errors(out) else None, tuple(out))


def _relocate(finding: Finding, origin: Mapping[str, str], *, keep_spec: bool) -> Finding:
    """Point a finding about the generated manifest at the source field it came from (longest known prefix). A
    field absent from the source (say, a missing defaultAction) is named where it would be: under /spec in a
    resource, at the top of a bare profile."""
    tokens = split(finding.pointer)
    if tokens[:1] == ["metadata"]:
        option = {"name": "--name", "namespace": "--namespace"}.get(tokens[1] if len(tokens) > 1 else "", "")
        message = f"{finding.message} ({option})" if option else finding.message
        return Finding(finding.severity, "", message, finding.code)
    if tokens[:1] != ["spec"]:
        return finding
    for cut in range(len(tokens), 0, -1):
        prefix = join("", *tokens[:cut])
        if prefix in origin:
            return Finding(finding.severity, join(origin[prefix], *tokens[cut:]), finding.message, finding.code)
    where = finding.pointer if keep_spec else join("", *tokens[1:])
    return Finding(finding.severity, where, finding.message, finding.code)


def _strs(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _map_or_none(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) and value else None


# --- security-profiles-operator (and seccomp-operator) resources ---------------------------------------------


def _from_resource(data: object, out: list[Finding]) -> tuple[dict[str, object], dict[str, object]] | None:
    assert isinstance(data, dict)
    api_version = data.get("apiVersion")
    group = api_version.split("/")[0] if isinstance(api_version, str) else None
    if group not in (SPO_GROUP, API_GROUP) or data.get("kind") != KIND:
        out.append(
            error(
                "",
                "unsupported-resource",
                f"only SeccompProfile resources of {SPO_GROUP} or {API_GROUP} can be imported, not "
                f"{data.get('kind')} of {api_version}",
            )
        )
        return None
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    spec = data.get("spec")
    if not isinstance(spec, dict):
        out.append(error("/spec", "missing-field", "the resource has no spec to import"))
        return None
    spec = dict(spec)
    if group == SPO_GROUP:
        disabled = spec.pop("disabled", False)
        if disabled is True:
            out.append(
                error(
                    "/spec/disabled",
                    "spo-disabled",
                    "the profile is disabled in security-profiles-operator (it is not installed on nodes); "
                    "importing it would install it. Import it once it is meant to be used.",
                )
            )
        elif disabled is not False:
            out.append(error("/spec/disabled", "wrong-type", "disabled must be true or false"))
        base = spec.get("baseProfileName")
        if isinstance(base, str) and base.startswith("oci://"):
            out.append(
                error(
                    "/spec/baseProfileName",
                    "spo-oci-base-profile",
                    f"security-profiles-operator pulls the base profile {base} from an OCI registry, which "
                    "seccomp-operator does not do; import that profile's content as its own SeccompProfile and "
                    "name it here",
                )
            )
        elif isinstance(base, str):
            out.append(
                warning(
                    "/spec/baseProfileName",
                    "spo-base-profile",
                    f"baseProfileName `{base}`: security-profiles-operator resolves it among the base profiles "
                    "it ships (such as runc-v1.2.0) and its other profiles; seccomp-operator looks for a "
                    f"SeccompProfile named `{base}` in the same namespace. Import that base profile too (e.g. "
                    "from SPO's examples/baseprofile-*.yaml), or this profile stays invalid until it exists. "
                    "Base rules come first and the child cannot override them.",
                )
            )
    return spec, metadata


# --- Docker / Podman / OCI profiles -------------------------------------------------------------------------


@dataclass(slots=True)
class _Block:
    """One source rule, after caps and minKernel were resolved."""

    pointer: str
    names: list[tuple[object, str]]  # (name, source pointer); a non-string name is reported by validation
    action: object
    action_pointer: str
    errno_ret: object = None
    errno_pointer: str = ""
    args: object = None
    includes_arches: frozenset[str] | None = None
    excludes_arches: frozenset[str] | None = None
    arch_pointer: str = ""
    had_names: bool = False

    @property
    def effective(self) -> tuple[str, int | None] | None:
        if not isinstance(self.action, str):
            return None
        return effective_action(self.action, self.errno_ret if isinstance(self.errno_ret, int) else None)

    def conditions(self) -> object:
        """The conditions as libseccomp compares them (model.condition_key), or their text when malformed (the
        validation of the result reports that)."""
        if not self.args:
            return None
        if isinstance(self.args, list) and all(isinstance(a, dict) for a in self.args):
            items = cast(list[dict[str, Any]], self.args)
            try:
                return condition_key(tuple(Arg(a["index"], a["value"], a["op"], a.get("valueTwo") or 0) for a in items))
            except (TypeError, KeyError):  # a missing field, or an unhashable value
                pass
        return json.dumps(self.args, sort_keys=True, default=repr)

    def applies_on(self, native: str) -> bool:
        if self.includes_arches is not None and native not in self.includes_arches:
            return False
        return not (self.excludes_arches is not None and native in self.excludes_arches)

    def key(self) -> str:
        """Action, errno and conditions: blocks with equal keys do the same thing to their names."""
        action = self.action if isinstance(self.action, str) else repr(self.action)
        errno = self.errno_ret if isinstance(self.errno_ret, int) else None
        return json.dumps([effective_action(action, errno), self.args], sort_keys=True, default=repr)


class _DockerConverter:
    def __init__(self, data: object, options: ImportOptions, out: list[Finding]) -> None:
        self.data = data
        self.options = options
        self.out = out
        self.origin: dict[str, str] = {}
        # For each node architecture, the architectures its filter covers.
        self.node_filters: dict[str, list[str]] = {}
        self.default: tuple[str, int | None] | None = None

    def run(self) -> dict[str, object]:
        data = self.data
        if not isinstance(data, dict):
            self.out.append(error("", "not-an-object", "a seccomp profile must be a JSON object"))
            return {}
        check_keys(data, "", _DOCKER_TOP_KEYS, self.out)
        spec: dict[str, object] = {}
        self._copy(data, spec, "defaultAction")
        self._default_errno(data, spec)
        self._architectures(data, spec)
        for key in ("flags", "listenerPath", "listenerMetadata"):
            self._copy(data, spec, key)
        if isinstance(spec.get("defaultAction"), str):
            errno_ret = spec.get("defaultErrnoRet")
            self.default = effective_action(
                str(spec["defaultAction"]), errno_ret if isinstance(errno_ret, int) else None
            )
        blocks = self._blocks(data.get("syscalls"))
        if has_errors(self.out):
            return spec
        rules = self._rules(blocks)
        if rules:
            spec["syscalls"] = rules
        return spec

    def _copy(self, data: dict[str, object], spec: dict[str, object], key: str) -> None:
        if data.get(key) is not None:
            spec[key] = data[key]
            self.origin[join("/spec", key)] = join("", key)

    def _default_errno(self, data: dict[str, object], spec: dict[str, object]) -> None:
        self._copy(data, spec, "defaultErrnoRet")
        number = self._errno_string(data.get("defaultErrno"), "/defaultErrno", data.get("defaultErrnoRet"))
        if number is not None:
            spec["defaultErrnoRet"] = number
            self.origin["/spec/defaultErrnoRet"] = "/defaultErrno"

    def _errno_string(self, value: object, pointer: str, numeric: object) -> int | None:
        """Podman's errno string (CRI-O: decimal or a name), which wins over the numeric field."""
        if value is None:
            return None
        number = errno_number(value) if isinstance(value, str) else None
        if number is None:
            self.out.append(
                error(
                    pointer,
                    "unknown-errno",
                    f'{value!r} is neither a decimal number nor a Linux errno name (CRI-O refuses it: "unknown errno")',
                )
            )
            return None
        if isinstance(numeric, int) and numeric != number:
            self.out.append(
                warning(
                    pointer,
                    "errno-string-wins",
                    f"{value} ({number}) differs from the numeric value {numeric}; CRI-O uses the string, and so "
                    "does this import",
                )
            )
        return number

    # --- architectures --------------------------------------------------------------------------------------

    def _node_arch_choice(self, available: list[str] | None) -> list[str]:
        if self.options.node_arches is not None:
            return list(self.options.node_arches)
        if available is None:
            return list(DEFAULT_NODE_ARCHES)
        chosen = [arch for arch in DEFAULT_NODE_ARCHES if arch in available]
        if not chosen:
            self.out.append(
                error(
                    "/archMap",
                    "arch-choice-needed",
                    "archMap has no entry for x86_64 or aarch64; choose the node architectures with --arches",
                )
            )
        return chosen

    def _architectures(self, data: dict[str, object], spec: dict[str, object]) -> None:
        arch_map = data.get("archMap")
        declared = data.get("architectures")
        if arch_map is not None and declared is not None:
            self.out.append(
                error(
                    "/archMap",
                    "architectures-and-archmap",
                    "both architectures and archMap are set; CRI-O refuses such a profile. Keep one.",
                )
            )
            return
        if arch_map is None:
            self._copy(data, spec, "architectures")
            listed = [a for a in declared if isinstance(a, str)] if isinstance(declared, list) else []
            for native in self._node_arch_choice(None):
                self.node_filters[native] = list(dict.fromkeys([native, *listed]))
            return
        entries = self._arch_map(arch_map)
        chosen = self._node_arch_choice(list(entries))
        result: list[str] = []
        for native in chosen:
            if native not in entries:
                self.out.append(
                    error(
                        "/archMap",
                        "arch-not-in-archmap",
                        f"archMap has no entry for {native} (from --arches); on such nodes Docker would use the "
                        "native architecture only. Choose architectures the map covers.",
                    )
                )
                continue
            members, pointers = entries[native]
            self.node_filters[native] = members
            for arch, pointer in zip(members, pointers, strict=True):
                if arch not in result:
                    self.origin[join("/spec/architectures", len(result))] = pointer
                    result.append(arch)
        left_out = [arch for arch in entries if arch not in chosen]
        if left_out:
            self.out.append(
                warning(
                    "/archMap",
                    "archmap-entries-left-out",
                    f"archMap entries for {', '.join(a.removeprefix('SCMP_ARCH_') for a in left_out)} are left "
                    f"out: the profile is made for {', '.join(a.removeprefix('SCMP_ARCH_') for a in chosen)} "
                    "nodes (--arches). One filter cannot hold both endiannesses, so a single profile for all "
                    "of them is impossible anyway.",
                )
            )
        if result:
            spec["architectures"] = result
            self.origin["/spec/architectures"] = "/archMap"

    def _arch_map(self, arch_map: object) -> dict[str, tuple[list[str], list[str]]]:
        """architecture -> (it and its subArchitectures, their source pointers)."""
        entries: dict[str, tuple[list[str], list[str]]] = {}
        if not isinstance(arch_map, list):
            self.out.append(error("/archMap", "wrong-type", "archMap must be an array"))
            return entries
        for e, entry in enumerate(arch_map):
            pointer = join("/archMap", e)
            if not isinstance(entry, dict):
                self.out.append(error(pointer, "not-an-object", "an archMap entry must be an object"))
                continue
            check_keys(entry, pointer, _ARCHMAP_KEYS, self.out)
            main = entry.get("architecture")
            subs = entry.get("subArchitectures") or []
            if not isinstance(main, str) or main not in ARCHES:
                self.out.append(
                    error(join(pointer, "architecture"), "unknown-architecture", f"unknown architecture {main!r}")
                )
                continue
            if not isinstance(subs, list) or not all(isinstance(s, str) and s in ARCHES for s in subs):
                self.out.append(
                    error(
                        join(pointer, "subArchitectures"),
                        "unknown-architecture",
                        "subArchitectures must be a list of SCMP_ARCH_* names",
                    )
                )
                continue
            members = [main, *subs]
            pointers = [join(pointer, "architecture")] + [
                join(pointer, "subArchitectures", s) for s in range(len(subs))
            ]
            entries.setdefault(main, (members, pointers))
        return entries

    # --- rules ----------------------------------------------------------------------------------------------

    def _blocks(self, raw: object) -> list[_Block]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.out.append(error("/syscalls", "wrong-type", "syscalls must be an array"))
            return []
        blocks: list[_Block] = []
        for i, item in enumerate(raw):
            block = self._block(item, join("/syscalls", i))
            if block is not None:
                blocks.append(block)
        return blocks

    def _block(self, item: object, pointer: str) -> _Block | None:
        if not isinstance(item, dict):
            self.out.append(error(pointer, "not-an-object", "a syscalls entry must be an object"))
            return None
        check_keys(item, pointer, _DOCKER_RULE_KEYS, self.out)
        names: list[tuple[object, str]] = []
        if item.get("name") is not None and item.get("names") is not None:
            self.out.append(
                error(
                    join(pointer, "name"),
                    "name-and-names",
                    "both name and names are set; CRI-O refuses such a rule. Keep names.",
                )
            )
            return None
        if item.get("name") is not None:
            names.append((item["name"], join(pointer, "name")))
        elif isinstance(item.get("names"), list):
            names.extend((n, join(pointer, "names", j)) for j, n in enumerate(cast(list[object], item["names"])))
        elif item.get("names") is not None:
            self.out.append(error(join(pointer, "names"), "wrong-type", "names must be an array of strings"))
            return None
        block = _Block(pointer, names, item.get("action"), join(pointer, "action"), had_names=bool(names))
        block.errno_ret, block.errno_pointer = item.get("errnoRet"), join(pointer, "errnoRet")
        number = self._errno_string(item.get("errno"), join(pointer, "errno"), item.get("errnoRet"))
        if number is not None:
            block.errno_ret, block.errno_pointer = number, join(pointer, "errno")
        block.args = item.get("args") or None
        includes = self._filter(item.get("includes"), join(pointer, "includes"))
        excludes = self._filter(item.get("excludes"), join(pointer, "excludes"))
        if includes is None or excludes is None:
            return None
        if not self._caps_and_kernel(block, includes, excludes):
            return None
        block.includes_arches = self._arch_set(includes.get("arches"), join(pointer, "includes", "arches"))
        block.excludes_arches = self._arch_set(excludes.get("arches"), join(pointer, "excludes", "arches"))
        block.arch_pointer = join(pointer, "includes" if block.includes_arches is not None else "excludes", "arches")
        return block

    def _filter(self, raw: object, pointer: str) -> dict[str, object] | None:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.out.append(error(pointer, "wrong-type", "must be an object with caps, arches or minKernel"))
            return None
        check_keys(raw, pointer, _FILTER_KEYS, self.out)
        for key in ("caps", "arches"):
            value = raw.get(key)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                self.out.append(error(join(pointer, key), "wrong-type", f"{key} must be a list of strings"))
                return None
        kernel = raw.get("minKernel")
        if kernel is not None and not (isinstance(kernel, str) and _KERNEL.fullmatch(kernel) and kernel != "0.0"):
            self.out.append(
                error(join(pointer, "minKernel"), "wrong-type", f'minKernel must look like "4.8", not {kernel!r}')
            )
            return None
        return raw

    def _caps_and_kernel(self, block: _Block, includes: dict[str, object], excludes: dict[str, object]) -> bool:
        """Resolve capability and kernel conditions; False when the rule is left out (with a warning)."""
        assumed = self.options.assume_caps
        need = _strs(includes.get("caps"))
        missing = [c for c in need if c not in assumed]
        if missing:
            self.out.append(
                warning(
                    join(block.pointer, "includes", "caps"),
                    "cap-gated-rule-dropped",
                    f"left out: the rule applies only to containers with {', '.join(need)}, and "
                    f"{', '.join(missing)} is not assumed (add it with --assume-caps if the workloads have it)",
                )
            )
            return False
        banned = [c for c in _strs(excludes.get("caps")) if c in assumed]
        if banned:
            self.out.append(
                warning(
                    join(block.pointer, "excludes", "caps"),
                    "cap-gated-rule-dropped",
                    f"left out: the rule is for containers without {', '.join(banned)}, which --assume-caps grants",
                )
            )
            return False
        if isinstance(includes.get("minKernel"), str):
            self.out.append(
                warning(
                    join(block.pointer, "includes", "minKernel"),
                    "min-kernel-dropped",
                    f"minKernel {includes['minKernel']} dropped: only dockerd honours it, and nodes are assumed to "
                    "run at least that kernel, so the rule is kept unconditionally",
                )
            )
        if isinstance(excludes.get("minKernel"), str):
            self.out.append(
                warning(
                    join(block.pointer, "excludes", "minKernel"),
                    "min-kernel-dropped",
                    f"left out: the rule applies only below kernel {excludes['minKernel']}, and nodes are assumed "
                    "to run a newer one",
                )
            )
            return False
        return True

    def _arch_set(self, raw: object, pointer: str) -> frozenset[str] | None:
        if not isinstance(raw, list) or not raw:
            return None
        result: set[str] = set()
        for k, name in enumerate(raw):
            info = lookup_alias(name) if isinstance(name, str) else None
            if info is None:
                self.out.append(error(join(pointer, k), "unknown-architecture", f"unknown architecture name {name!r}"))
                continue
            result.add(info.spec_name)
        return frozenset(result)

    def _rules(self, blocks: list[_Block]) -> list[dict[str, object]]:
        natives = list(self.node_filters)
        kept: list[_Block] = []
        for block in blocks:
            if block.includes_arches is None and block.excludes_arches is None:
                kept.append(block)
                continue
            if any(block.applies_on(native) for native in natives):
                kept.append(block)
            else:
                self.out.append(
                    warning(
                        block.arch_pointer,
                        "arch-gated-rule-dropped",
                        "left out: the rule applies on none of the node architectures "
                        f"({', '.join(n.removeprefix('SCMP_ARCH_') for n in natives)}), as in Docker",
                    )
                )
        self._check_portable(kept, natives)
        self._resolve_shadowing(kept)
        return self._merge(kept)

    def _resolve_shadowing(self, blocks: list[_Block]) -> None:
        """Leave out rules libseccomp would ignore anyway, replaying its rules for one syscall (observed on 2.5.4):
        of two unconditional rules the first wins; a conditional rule after an unconditional one with another
        action is dropped; a later unconditional rule replaces earlier conditional ones. Rules equal to the default
        action take no part: runc skips them before libseccomp sees them. The filter stays the same."""
        unconditional: dict[str, tuple[object, str]] = {}
        conditional: dict[str, list[tuple[object, object, _Block, str]]] = {}
        for block in blocks:
            action = block.effective
            if action is None or action == self.default:
                continue
            conditions = block.conditions()
            kept: list[tuple[object, str]] = []
            for name, pointer in block.names:
                if not isinstance(name, str):
                    kept.append((name, pointer))
                    continue
                first = unconditional.get(name)
                if first is not None and first[0] != action:
                    self._shadowed(name, pointer, first[1])
                    continue
                earlier = conditional.setdefault(name, [])
                if conditions is None:
                    if first is None:
                        unconditional[name] = (action, pointer)
                        for _, other_action, other_block, other_pointer in earlier:
                            if other_action != action:
                                other_block.names.remove((name, other_pointer))
                                self._shadowed(name, other_pointer, pointer)
                else:
                    clash = [p for key, a, _, p in earlier if key == conditions and a != action]
                    if clash:
                        self.out.append(
                            error(
                                pointer,
                                "conflicting-actions",
                                f"`{name}` has a rule with the same conditions but another action at {clash[0]}; "
                                "libseccomp refuses the second (EEXIST), so this profile fails on every runtime. "
                                "Fix the source.",
                            )
                        )
                    earlier.append((conditions, action, block, pointer))
                kept.append((name, pointer))
            block.names = kept

    def _shadowed(self, name: str, pointer: str, winner: str) -> None:
        self.out.append(
            warning(
                pointer,
                "shadowed-rule-dropped",
                f"`{name}` left out here: the rule at {winner} already decides this syscall with another action, "
                "and libseccomp (under every runtime) keeps that one and silently ignores this one, so leaving it "
                "out changes nothing",
            )
        )

    def _check_portable(self, kept: list[_Block], natives: list[str]) -> None:
        for native in natives:
            applied = {(name, block.key()) for block in kept if block.applies_on(native) for name, _ in block.names}
            for block in kept:
                if block.applies_on(native):
                    continue
                for name, name_pointer in block.names:
                    if not isinstance(name, str) or (name, block.key()) in applied:
                        continue
                    alive = [a for a in self.node_filters[native] if syscalls.exists_on(name, a)]
                    if alive:
                        self.out.append(
                            error(
                                name_pointer,
                                "arch-condition-not-portable",
                                f"on {native.removeprefix('SCMP_ARCH_')} nodes Docker leaves this rule out "
                                f"({block.arch_pointer}), but an OCI profile has no per-node conditions, and "
                                f"`{name}` exists on {', '.join(a.removeprefix('SCMP_ARCH_') for a in alive)}, "
                                "which those nodes' filter covers; the imported profile would enforce what Docker "
                                "does not. Import separately per architecture (--arches).",
                            )
                        )

    def _merge(self, kept: list[_Block]) -> list[dict[str, object]]:
        merged: dict[str, tuple[_Block, list[tuple[object, str]]]] = {}
        for block in kept:
            if block.had_names and not block.names:
                continue  # every name was shadowed (reported above)
            entry = merged.setdefault(block.key(), (block, []))
            seen = {name for name, _ in entry[1]}
            for name, pointer in block.names:
                if not isinstance(name, str) or name not in seen:
                    entry[1].append((name, pointer))
                    if isinstance(name, str):
                        seen.add(name)
        rules: list[dict[str, object]] = []
        for first, names in merged.values():
            i = len(rules)
            base = join("/spec/syscalls", i)
            self.origin[base] = first.pointer
            rule: dict[str, object] = {"names": [name for name, _ in names], "action": first.action}
            self.origin[join(base, "names")] = join(first.pointer, "names")
            for j, (_, pointer) in enumerate(names):
                self.origin[join(base, "names", j)] = pointer
            self.origin[join(base, "action")] = first.action_pointer
            if first.errno_ret is not None:
                rule["errnoRet"] = first.errno_ret
                self.origin[join(base, "errnoRet")] = first.errno_pointer
            if first.args is not None:
                rule["args"] = first.args
                self.origin[join(base, "args")] = join(first.pointer, "args")
            rules.append(rule)
        return rules
