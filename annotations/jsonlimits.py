"""Bounds on untrusted JSON: size and nesting depth. Pure: no Django here, so the API's parser and
the JSONL prompt-set reader share the same rule."""

from __future__ import annotations

from typing import BinaryIO

import orjson

MAX_DEPTH = 64


class TooLarge(ValueError):
    def __init__(self, size: int | None = None):
        super().__init__("too large")
        self.size = size


class JsonTooDeep(ValueError):
    """JSON nested deeper than allowed; the message says the bound."""


def depth_of(value) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0, `[]` is 1, `[[1]]` is 2).
    Iterative, so a deep value cannot exhaust Python's stack."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def check_depth(value, max_depth: int = MAX_DEPTH):
    """`value` itself, or JsonTooDeep when it nests deeper than `max_depth`."""
    if depth_of(value) > max_depth:
        raise JsonTooDeep(f"nested deeper than {max_depth} levels")
    return value


def loads_bounded(data: bytes | str, max_depth: int = MAX_DEPTH):
    """orjson.loads (which stops at 1024 levels on its own), then the depth bound. Raises
    orjson.JSONDecodeError (a ValueError) or JsonTooDeep."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():  # orjson stops at 1024 levels
            raise JsonTooDeep(f"nested deeper than {max_depth} levels")
        raise
    return check_depth(value, max_depth)


def read_bounded_json(stream: BinaryIO, max_bytes: int, max_depth: int = MAX_DEPTH):
    """Read at most `max_bytes` from `stream` (TooLarge beyond), then parse with the depth bound."""
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge()
    return loads_bounded(data, max_depth)
