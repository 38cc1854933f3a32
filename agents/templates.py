"""The small template language of runtime commands: `vllm serve {model} --port {port}`.

A command is split into words like a shell would, but no shell ever runs it,
so a model name with a space or a `;` stays one argument. Each word is then
formatted with the replica's values; an unknown `{field}` is refused when the
config is loaded, not when the first replica starts.
"""

from __future__ import annotations

import shlex
import string

FIELDS = ("model", "version", "artifact", "port", "host", "name", "deployment", "gpus")


def split_command(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError as e:
        raise ValueError(f"cannot split {command!r} into words: {e}") from None


def check_words(words: list[str]) -> None:
    for word in words:
        try:
            parsed = list(string.Formatter().parse(word))
        except ValueError as e:
            raise ValueError(f"{word!r}: {e}") from None
        for _, field, _, _ in parsed:
            if field is not None and field not in FIELDS:
                raise ValueError(f"{word!r}: unknown field {{{field}}}; one of {', '.join(FIELDS)}")


def format_words(words: list[str], values: dict[str, str]) -> list[str]:
    return [word.format(**values) for word in words]
