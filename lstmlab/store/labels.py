"""A run's name and tags: what the store accepts (``check_labels``), so that a label reads as what it is."""
from __future__ import annotations

import unicodedata
from typing import Any

NAME_MAX_CHARS = 200  # a run's name
TAG_MAX_CHARS = 200  # one tag
MAX_TAGS = 32  # tags on one run
# Bidirectional embeddings, overrides and isolates, and the implicit direction marks: they reorder how the text
# around them is displayed (a name can read differently from what it is).
_BIDI_FORMATTING = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _shown_text(value: str) -> str:
    """``value`` as an error message quotes it: repr'd (control and formatting characters escaped), cut short."""
    return repr(value) if len(value) <= 60 else repr(value[:57]) + "..."


def _check_text(field: str, value: Any, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} {value!r}: expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise ValueError(f"{field} {_shown_text(value)} has {len(value)} characters: expected at most {limit}")
    for char in value:
        if unicodedata.category(char) == "Cc" or char in _BIDI_FORMATTING:
            kind = "a control" if unicodedata.category(char) == "Cc" else "a bidirectional formatting"
            what = unicodedata.name(char, "")
            raise ValueError(f"{field} {_shown_text(value)} contains U+{ord(char):04X}{' ' + what if what else ''}, "
                             f"{kind} character: names and tags may not contain control or bidirectional "
                             "formatting characters")
    return value


def check_labels(name: Any = "", tags: Any = ()) -> tuple[str, tuple[str, ...]]:
    """A run's name and tags as the store keeps them: ``(name, tags)`` (None is no name, one string one tag), or
    ValueError naming the field and the value when a name or a tag is longer than ``NAME_MAX_CHARS`` /
    ``TAG_MAX_CHARS``, there are more than ``MAX_TAGS`` tags, or one holds a control character (Unicode category
    Cc) or a bidirectional formatting character (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C).
    Every store method that writes a name or tags calls it; callers may call it first to refuse early."""
    name = _check_text("name", "" if name is None else name, NAME_MAX_CHARS)
    if tags is None:
        tags = ()
    elif isinstance(tags, str):
        tags = (tags,)
    try:
        tags = tuple(tags)
    except TypeError:
        raise ValueError(f"tags {tags!r}: expected a list of tags") from None
    if len(tags) > MAX_TAGS:
        raise ValueError(f"tags: {len(tags)} given, expected at most {MAX_TAGS}")
    return name, tuple(_check_text("tag", t, TAG_MAX_CHARS) for t in tags)
