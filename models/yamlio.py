"""Strict YAML loading: pydantic validation with errors that name the file, line and key."""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from pydantic import BaseModel, ValidationError
from yaml._yaml import CParser
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from models.errors import InputError

type KeyPath = tuple[str | int, ...]


class YamlDocument:
    """Parsed YAML plus the line of every key, so that errors can point into the file."""

    def __init__(self, source: str, data: Any, lines: dict[KeyPath, int]) -> None:
        self.source = source
        self.data = data
        self.lines = lines

    def line_of(self, path: KeyPath) -> int | None:
        """The line (1-based) of the deepest part of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


class ParsedFiles[T]:
    """What was made of a file, kept while the file holds the same bytes (hashed: reading and
    hashing a catalog takes a few per cent of parsing it, and a file's times may not change
    between two quick writes), the last few only: a process that loads a model more than once
    (each service a test starts, a reloaded model) parses each file once. What is kept must
    not be changed by its users (the catalog and fingerprints are frozen)."""

    def __init__(self, keep: int = 4) -> None:
        self._kept: OrderedDict[Hashable, T] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def get(self, path: Path, make: Callable[[], T], *key: Hashable) -> T:
        """What `make()` gave for this file as it is now (and for `key`), made if not kept. A
        file that cannot be read is made every time, so its error says what is wrong."""
        try:
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return make()
        full = (str(path.resolve()), content, *key)
        with self._lock:
            if full in self._kept:
                self._kept.move_to_end(full)
                return self._kept[full]
        value = make()
        with self._lock:
            self._kept[full] = value
            while len(self._kept) > self._keep:
                self._kept.popitem(last=False)
        return value


@dataclass(frozen=True)
class YamlLimits:
    """Bounds on what parsing a document may cost: its length, its nesting, and its nodes once
    every alias is expanded (what validating it walks: a few aliased lists nested in each other,
    a "billion laughs", would otherwise make a few hundred bytes cost gigabytes)."""

    max_chars: int
    max_depth: int
    max_nodes: int


FILE_LIMITS = YamlLimits(max_chars=10_000_000, max_depth=32, max_nodes=2_000_000)
"""For the repository's own data files (the catalog, the reference cases): generous."""


class _Loader(Composer, CParser, SafeConstructor, Resolver):
    """libyaml's parser (a fifth of the pure-Python loader's time, measured on a scenario of
    500 reports) with PyYAML's composer and safe constructor. The composer refuses nesting
    deeper than its limit (deeper would exhaust the stack); the resolver leaves dates as text,
    so that pydantic parses them and a bad date (2022-06-31) is reported with its line like any
    other invalid value."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in Resolver.yaml_implicit_resolvers.items()
    }

    def __init__(self, text: str, max_depth: int) -> None:
        CParser.__init__(self, text)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        Composer.__init__(self)
        self.max_depth = max_depth
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > self.max_depth:
                event = self.peek_event()
                mark = cast(yaml.Mark | None, event and event.start_mark)  # libyaml's Mark
                reason = f"nested deeper than {self.max_depth} levels"
                raise yaml.composer.ComposerError(None, None, reason, mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def parse_yaml(
    text: str, source: str, error: type[InputError], limits: YamlLimits = FILE_LIMITS
) -> YamlDocument:
    """Parse YAML text within `limits`; a syntax error or a limit passed becomes `error`
    naming the source (and the line where there is one)."""
    if len(text) > limits.max_chars:
        raise error(source, f"longer than {limits.max_chars} characters")
    loader = _Loader(text, limits.max_depth)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > limits.max_nodes:
            reason = f"more than {limits.max_nodes} values once its aliases are expanded"
            raise error(source, reason)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise error(f"{source}{line}", f"YAML syntax error: {exc.problem}") from None
    except yaml.reader.ReaderError as exc:
        raise error(source, f"character U+{exc.character:04X} is not allowed in YAML") from None
    except ValueError as exc:  # a value Python refuses to build (an integer of 5000 digits)
        raise error(source, f"invalid value: {exc}") from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _collect_lines(node, (), lines)
    return YamlDocument(source, data, lines)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes `node` stands for with its aliases expanded; an alias is the node it
    names, composed once, so each node is sized once (`sizes`: by id, -1 while being sized)."""
    known = sizes.get(id(node))
    if known == -1:
        raise yaml.composer.ComposerError(None, None, "an alias refers to itself", node.start_mark)
    if known is not None:
        return known
    sizes[id(node)] = -1
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = size
    return size


def read_yaml(path: Path, error: type[InputError]) -> YamlDocument:
    """Read and parse a YAML file; a missing file is an `error` too."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(str(path), f"cannot read file ({exc.strerror})") from None
    return parse_yaml(text, str(path), error)


def _collect_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = path + (key_node.value,)
            _collect_lines(value_node, key, lines)
            lines[key] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _collect_lines(item, path + (index,), lines)


def validate[M: BaseModel](
    model: type[M],
    doc: YamlDocument,
    error: type[InputError],
    known_keys: Iterable[str] = (),
) -> M:
    """Validate `doc` against `model`; the first problem becomes `error` with file:line and key."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        # A misspelt key shows up as a missing key and an unknown one: name the unknown one,
        # since that is where the fix is and what the suggestion helps with.
        problems = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = problems[0]
        raise fail(doc, tuple(first["loc"]), explain(first, known_keys), error) from None


def fail(doc: YamlDocument, path: KeyPath, reason: str, error: type[InputError]) -> InputError:
    """An `error` located at `path` in `doc` (file, line and key), for checks beyond the schema."""
    return error(f"{doc.source}:{doc.line_of(path) or 1}: {describe_path(path, doc.data)}", reason)


def describe_path(path: KeyPath, data: Any) -> str:
    """Render a key path as `indicators[3] (covert_mobilization).likelihood`."""
    parts: list[str] = []
    node = data
    for key in path:
        if isinstance(key, int):
            parts.append(f"[{key}]")
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                parts.append(f" ({node['id']})")
        else:
            parts.append(f".{key}" if parts else str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def explain(detail: Any, known_keys: Iterable[str]) -> str:
    """A short reason for one pydantic error, with a suggestion for a misspelt key."""
    kind = detail["type"]
    if kind == "extra_forbidden":
        key, keys = str(detail["loc"][-1]), set(known_keys)
        if key in keys:  # a real key, in the wrong place: a suggestion of itself is no help
            return f"key {key!r} does not belong here"
        return f"unknown key {key!r}{did_you_mean(key, keys)}"
    if kind == "missing":
        return "required key is missing"
    message = str(detail["msg"])
    return message.removeprefix("Value error, ")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
