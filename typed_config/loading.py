"""YAML -> pydantic, with file:line and dotted key in every message."""

import difflib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names file, line, key and fix."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def line_of(root: yaml.Node | None, keys: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node along `keys` that exists."""
    node, line = root, None
    for key in keys:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


Loc = tuple[int | str, ...]


def describe_errors(
    path: Path,
    error: ValidationError,
    root: yaml.Node | None = None,
    what: str | None = None,
    user_loc: Callable[[Loc], Loc] | None = None,
) -> str:
    """One line per error: `file:line key: message (got value)`.

    `user_loc` turns pydantic's location into the keys the user wrote (for example
    dropping the tag of a discriminated union, which is not a key in the file).
    """
    lines = [f"{path}: invalid {what or error.title}"]
    items = error.errors()
    # A list whose item failed is also "too short" by the items that survived: say the item's error only.
    failed = {tuple(item["loc"]) for item in items}
    typos = _typos(items)
    for item in items:
        loc = tuple(item["loc"])
        if item["type"] == "too_short" and any(other[: len(loc)] == loc and other != loc for other in failed):
            continue
        if loc in typos and item["type"] == "missing":
            continue  # said once, at the misspelt key
        keys = user_loc(loc) if user_loc else loc
        key = ".".join(str(k) for k in keys) or "<top level>"
        line = line_of(root, keys)
        where = f"{path}:{line}" if line else str(path)
        value = item.get("input")
        shown = "" if isinstance(value, dict | list) or item["type"] == "missing" else f" (got {value!r})"
        message = item["msg"]
        if loc in typos and item["type"] == "extra_forbidden":
            message = f"unknown key; did you mean {typos[loc][-1]!r}?"
        lines.append(f"  {where} {key}: {message}{shown}")
    return "\n".join(lines)


def _typos(items: list[Any]) -> dict[Loc, Loc]:
    """A misspelt key is both unknown and a required key missing beside it: pair the two, both ways."""
    missing = {tuple(i["loc"]) for i in items if i["type"] == "missing"}
    pairs: dict[Loc, Loc] = {}
    for item in items:
        loc = tuple(item["loc"])
        if item["type"] != "extra_forbidden" or not loc:
            continue
        siblings = [m for m in missing if m[:-1] == loc[:-1] and m not in pairs]
        close = difflib.get_close_matches(str(loc[-1]), [str(m[-1]) for m in siblings], n=1, cutoff=0.6)
        if close:
            (twin,) = [m for m in siblings if str(m[-1]) == close[0]]
            pairs[loc], pairs[twin] = twin, loc
    return pairs


def load_yaml_model(path: Path, model: type[Model], user_loc: Callable[[Loc], Loc] | None = None) -> Model:
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except OSError as error:
        raise ConfigError(path, f"{path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(path, f"{where}: not valid YAML: {error}") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        raise ConfigError(path, describe_errors(path, error, root, user_loc=user_loc)) from None
