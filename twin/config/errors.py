"""Turn pydantic's validation errors into lines a planner can act on.

Each line reads `scenarios/x.yaml: sites.forward_sh.pick_pack.workers (=-5) must be > 0`: the file,
the field path as written in the file (union branch tags stripped), the bad value, what is wrong.
"""

from __future__ import annotations

import difflib
import reprlib
import types
import typing
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

_TYPE_ERRORS = ("_type", "_parsing", "model_attributes_type", "dict_type", "list_type")


def format_path(path: Sequence[str | int]) -> str:
    r"""`('lanes', 3, 'to')` → `lanes[3].to`.

    An odd key (long, with control characters, not valid text) is shown quoted and shortened,
    e.g. a lone surrogate as `skus['\ud83d']`.
    """
    if len(path) > 12:  # only a hostile file nests this deep: its first and last parts will do
        return f"{format_path(path[:4])}...{format_path(path[-4:])}"
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _plain_key(part):
            out += f"[{show_value(str(part), 40)}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _plain_key(part: object) -> bool:
    if not isinstance(part, str) or not part or len(part) > 60 or not part.isprintable():
        return False
    try:
        part.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_SHORT = reprlib.Repr()
"""Renders containers and long numbers with a bounded amount of work, whatever their size."""
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxlong, _SHORT.maxother = 2, 60, 40, 60
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 4


def show_value(value: Any, width: int = 60) -> str:
    """A short rendering of a bad value for a message.

    Truncates before converting: a value may be a string of megabytes or a structure that shares
    subtrees (YAML aliases) and would expand to gigabytes if rendered whole.
    """
    if isinstance(value, str):
        text = repr(value[:width])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        text = f"<a whole number of {value.bit_length()} bits>"
    elif isinstance(value, dict | list | tuple | set | frozenset | int):
        text = _SHORT.repr(value)
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def problem(source: str, path: Sequence[str | int], message: str, value: Any = ...) -> str:
    """One error line: `source: path (=value) message`."""
    shown = "" if value is ... else f" (={show_value(value)})"
    return f"{source}: {format_path(path)}{shown} {message}"


def _walk_input(
    loc: Sequence[str | int], data: Any, names_key: bool
) -> tuple[list[str | int], Any]:
    """Keep the parts of a pydantic `loc` that are keys of the input; drop union branch tags.

    `names_key`: the error is about a key absent from the input (missing), so its last part stays.
    """
    path: list[str | int] = []
    node = data
    found = True
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif names_key and i == len(loc) - 1 and isinstance(part, str):
            path.append(part)  # a missing or unknown key: name it
            found = False
        # anything else is a union tag or validator name, not part of the file
    return path, (node if found else ...)


def _allowed_keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _unwrap(annotation: Any, data: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation stands for, given the input data (resolves unions)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], data)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _unwrap(arg, data)
            if model is None:
                continue
            tag_field = next((n for n in ("kind", "dist") if n in model.model_fields), None)
            if tag_field is None or not isinstance(data, dict):
                return model
            literal = typing.get_args(model.model_fields[tag_field].annotation)
            if data.get(tag_field) in literal:
                return model
        return None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _model_at(
    root: type[BaseModel], path: Sequence[str | int], data: Any
) -> type[BaseModel] | None:
    """The model class whose keys live at `path` (the parent of an unknown key)."""
    model: type[BaseModel] | None = root
    annotation: Any = root
    node = data
    for part in path:
        if model is not None and isinstance(part, str):
            field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
            if field is None:
                return None
            annotation = field.annotation
        else:
            args = [
                a
                for a in typing.get_args(annotation)
                if typing.get_origin(a) in (dict, list) or a in (dict, list)
            ]
            container = (
                annotation
                if typing.get_origin(annotation) in (dict, list)
                else (args[0] if args else None)
            )
            if container is None:
                return None
            annotation = typing.get_args(container)[-1]
        node = node[part] if isinstance(node, dict | list) else None
        model = _unwrap(annotation, node)
        if model is None and typing.get_origin(annotation) not in (dict, list):
            inner = [a for a in typing.get_args(annotation) if typing.get_origin(a) in (dict, list)]
            annotation = inner[0] if inner else annotation
    return model


def _message(error: Any, path: list[str | int], root: type[BaseModel], data: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "missing":
        last = error["loc"][-1] if error["loc"] else None
        if isinstance(last, int):  # a tuple given too few items
            return f"is missing item [{last}]"
        return "is required"
    if kind == "extra_forbidden":
        parent = _model_at(root, path[:-1], data)
        allowed = _allowed_keys(parent)
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        known = f" (known keys: {', '.join(allowed)})" if allowed and not close else ""
        return f"is not a known key{hint}{known}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']:g}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']:g}"
    if kind == "less_than":
        return f"must be < {ctx['lt']:g}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']:g}"
    if kind == "union_tag_invalid":
        return f"is not one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"needs a '{ctx.get('discriminator', 'kind').strip(chr(39))}' key"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "value_error":  # a validator's own words, which may quote a huge input
        return _clip(str(ctx.get("error", error["msg"])))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind == "int_parsing_size":
        return "is too large a whole number"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping of keys to values"
    if kind == "list_type":
        return "must be a list"
    if kind == "string_type":
        return "must be a string"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return f"must have at least {n} item{'s' if n != 1 else ''}"
    if kind == "too_long":
        n = ctx.get("max_length", 0)
        return f"must have at most {n} item{'s' if n != 1 else ''}"
    return _clip(error["msg"][0].lower() + error["msg"][1:])


def _clip(text: str, width: int = 300) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def validation_problems(
    source: str,
    exc: ValidationError,
    root: type[BaseModel],
    data: Any,
    prefix: Sequence[str | int] = (),
) -> list[str]:
    """One line per distinct problem, with union branches that did not apply left out.

    `prefix` is where `data` sits in the file (e.g. `policies.forward`), for data validated apart.
    A check of a whole mapping (a model-level rule) is reported at the mapping, without its value.
    """
    found: list[tuple[list[str | int], str, Any, bool]] = []
    for error in exc.errors():
        loc = error["loc"]
        if loc and loc[-1] == "[key]":  # a bad mapping key: pydantic's loc holds it mangled
            path, _ = _walk_input(loc[:-2], data, False)
            message = _message(error, path, root, data)
            found.append(([*path, error["input"]], message, ..., False))
            continue
        path, value = _walk_input(loc, data, error["type"] == "missing")
        if error["type"].startswith("union_tag") and isinstance(value, dict):
            key = str(error.get("ctx", {}).get("discriminator", "kind")).strip("'")
            path, value = [*path, key], value.get(key, ...)
        is_type = error["type"].endswith(_TYPE_ERRORS) or error["type"] in _TYPE_ERRORS
        found.append((path, _message(error, path, root, data), value, is_type))
    # messages by path, in order of first appearance; a path keeps type errors only when no other
    # error at or below it got further (those are union branches that did not apply)
    by_path: dict[tuple[str | int, ...], tuple[Any, bool, list[str]]] = {}
    for path, message, value, is_type in found:
        if is_type and any(
            not other_type and other[: len(path)] == path for other, _, _, other_type in found
        ):
            continue
        _, _, messages = by_path.setdefault(tuple(path), (value, is_type, []))
        if message not in messages:
            messages.append(message)
    lines: list[str] = []
    for path, (value, is_type, messages) in by_path.items():
        shown = value if path else ...  # a model-level rule: the message names the values
        if is_type:  # every branch of a union rejected the type: name what each accepts
            messages = [
                " or ".join([messages[0], *(m.removeprefix("must be ") for m in messages[1:])])
            ]
        lines += [problem(source, [*prefix, *path], m, shown) for m in messages]
    return lines


def join(lines: Iterable[str]) -> str:
    """Problems as one message."""
    return "\n".join(lines)
