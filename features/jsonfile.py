"""A JSON file read strictly, with every problem located at its line.

    read_json      read and decode a file (``decode_json``: its text): not UTF-8, not JSON, nested too
                   deeply or a key repeated in one object is an error of the caller's class naming the
                   file and line (``json`` would keep the last of two equal keys, so the file would
                   not say what it seems to)
    JsonDocument   the decoded data with its text: ``line_of(("history", 3, "created_at"))`` finds
                   the line of a field, ``field(...)`` spells its path (``history[3].created_at``)

Decoding uses the C parser; the line of a field is found only when asked (a failed check), by a
second, pure-Python parse that records where each object starts and ends.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.errors import FstoreError

JsonPath = tuple[str | int, ...]


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


class _LocatingDecoder(json.JSONDecoder):
    """The pure-Python parser, recording each object's span and the objects that repeat a key."""

    def __init__(self) -> None:
        super().__init__(object_pairs_hook=self._pairs)
        self.spans: dict[int, tuple[int, int]] = {}
        self.repeats: list[tuple[dict[str, Any], str]] = []
        self._repeated: str | None = None
        self.parse_object = self._object
        self.scan_once = json.scanner.py_make_scanner(self)

    def _pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out and self._repeated is None:
                self._repeated = key
            out[key] = value
        return out

    def _object(self, s_and_end: tuple[str, int], *args: Any) -> tuple[dict[str, Any], int]:
        obj, end = json.decoder.JSONObject(s_and_end, *args)
        self.spans[id(obj)] = (s_and_end[1] - 1, end)
        if self._repeated is not None:
            self.repeats.append((obj, self._repeated))
            self._repeated = None
        return obj, end


def field_name(path: JsonPath) -> str:
    """("history", 3, "created_at") → ``history[3].created_at``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _path_to(node: Any, target: object, path: JsonPath = ()) -> JsonPath | None:
    """The JSON path from ``node`` to the object ``target`` (by identity), or None."""
    if node is target:
        return path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        found = _path_to(child, target, (*path, key))
        if found is not None:
            return found
    return None


@dataclass
class JsonDocument:
    """A decoded JSON file and its text, able to say on which line a field is."""

    path: Path
    text: str
    data: Any
    _located: tuple[Any, _LocatingDecoder] | None = field(default=None, repr=False)

    def _parse_located(self) -> tuple[Any, _LocatingDecoder]:
        if self._located is None:
            decoder = _LocatingDecoder()
            self._located = (decoder.decode(self.text), decoder)
        return self._located

    def _line_at(self, position: int) -> int:
        return self.text.count("\n", 0, position) + 1

    def _key_position(self, obj: dict[str, Any], key: str, *, nth: int = 1) -> int | None:
        start, end = self._parse_located()[1].spans[id(obj)]
        pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
        matches = list(pattern.finditer(self.text, start, end))
        return matches[nth - 1].start() if len(matches) >= nth else None

    def line_of(self, path: JsonPath) -> int | None:
        """The line of the deepest key (or list item) of ``path`` found in the text, else None."""
        node, decoder = self._parse_located()
        position = None
        for step in path:
            if isinstance(node, dict) and isinstance(step, str) and step in node:
                position = self._key_position(node, step) or position
                node = node[step]
            elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
                node = node[step]
                if isinstance(node, dict):
                    position = decoder.spans[id(node)][0]
            else:
                break
        return None if position is None else self._line_at(position)

    def repeated_key(self) -> tuple[str, str, int | None]:
        """(the key, the field holding it, the line of its second occurrence) of the first repeat."""
        root, decoder = self._parse_located()
        obj, key = decoder.repeats[0]
        position = self._key_position(obj, key, nth=2)
        where = field_name(_path_to(root, obj) or ()) or "the top-level object"
        return key, where, None if position is None else self._line_at(position)


def read_json(path: Path, error: type[FstoreError]) -> JsonDocument:
    """Read and decode ``path``; raises FileNotFoundError when it is missing, ``error`` otherwise."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=path) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise error(f"cannot read the file: {exc.strerror}", file=path) from None
    return decode_json(text, path, error)


def decode_json(text: str, path: Path, error: type[FstoreError]) -> JsonDocument:
    """Decode the text of ``path``: not JSON, nested too deeply or a key repeated in one object is an
    ``error`` naming the file and line."""
    try:
        data = json.loads(text, object_pairs_hook=_refuse_repeats)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        raise error("nested too deeply to be read", file=path) from None
    except _RepeatedKey:
        key, where, line = JsonDocument(path, text, None).repeated_key()
        raise error(
            f"key {key!r} appears twice in {where}; JSON keeps only the last, so the file does not say "
            "what it seems to",
            file=path,
            line=line,
            hint="remove one of them",
        ) from None
    return JsonDocument(path, text, data)


__all__ = ["JsonDocument", "JsonPath", "decode_json", "field_name", "read_json"]
