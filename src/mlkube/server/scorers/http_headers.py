"""Werkzeug-shaped containers for raw-HTTP entry scripts: headers and query arguments.

A ``@rawhttp`` score.py was written against Flask's request and response objects, so
it reads ``request.headers.get("X-Foo")``, iterates ``for name, value in headers``,
calls ``request.args.getlist("k")`` and sets ``response.headers["Access-Control-..."]``.
These two small classes give those calls the meaning Werkzeug gives them, without
installing Flask into the model's environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any


def canonical_header_name(name: str) -> str:
    """``X-Custom-Header`` from ``x-custom-header``: the spelling Flask's headers use."""
    return "-".join(part.capitalize() for part in name.split("-"))


def joined_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Raw request headers as Flask gives them: canonical names, a repeated header's
    values joined with ``", "`` as WSGI joins them."""
    merged: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name = canonical_header_name(raw_name.decode("latin-1"))
        value = raw_value.decode("latin-1")
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


class Headers:
    """An ordered, case-insensitive multi-map of HTTP headers, as Werkzeug's ``Headers``.

    Iterating yields ``(name, value)`` pairs (not names), and ``h[name]`` is the first
    value, exactly as score.py files written for Flask expect."""

    def __init__(self, pairs: Iterable[tuple[str, str]] | None = None) -> None:
        self._pairs: list[tuple[str, str]] = []
        for name, value in pairs or ():
            self.add(name, value)

    # -- reading -------------------------------------------------------------------------

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for key, value in self._pairs:
            if key.lower() == wanted:
                return value
        raise KeyError(name)

    def get(self, name: str, default: Any = None, type: Callable[[str], Any] | None = None
            ) -> Any:
        try:
            value = self[name]
        except KeyError:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except ValueError:
            return default  # Werkzeug's rule: an unconvertible value counts as missing

    def getlist(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self._pairs if key.lower() == wanted]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self._pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._pairs))

    def __len__(self) -> int:
        return len(self._pairs)

    def keys(self) -> list[str]:
        return [key for key, _ in self._pairs]

    def values(self) -> list[str]:
        return [value for _, value in self._pairs]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def to_dict(self) -> dict[str, str]:
        return {key: value for key, value in reversed(self._pairs)}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._pairs == other._pairs
        return NotImplemented

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"

    # -- writing -------------------------------------------------------------------------

    def add(self, name: str, value: object) -> None:
        """Add one more line for ``name`` (repeated headers stay separate lines)."""
        self._pairs.append((str(name), str(value)))

    add_header = add

    def set(self, name: str, value: object) -> None:
        """Replace every line for ``name`` with one (in the first line's place)."""
        wanted = name.lower()
        for index, (key, _) in enumerate(self._pairs):
            if key.lower() == wanted:
                self._pairs[index] = (str(name), str(value))
                self._pairs[index + 1:] = [
                    pair for pair in self._pairs[index + 1:] if pair[0].lower() != wanted]
                return
        self.add(name, value)

    __setitem__ = set

    def remove(self, name: str) -> None:
        wanted = name.lower()
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != wanted]

    def __delitem__(self, name: str) -> None:
        if name not in self:
            raise KeyError(name)
        self.remove(name)

    def setdefault(self, name: str, default: object) -> str:
        if name not in self:
            self.add(name, default)
        return self[name]

    def update(self, other: Any = (), **extra: object) -> None:
        pairs = other.items() if hasattr(other, "items") else other
        for name, value in [*pairs, *extra.items()]:
            self.set(name, value)


class MultiDict:
    """Query or form arguments: ``args["k"]`` is the first value, ``getlist`` all of them,
    as Werkzeug's ``MultiDict`` (keys are case-sensitive, RFC 3986)."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        self._values: dict[str, list[Any]] = {}
        for key, value in pairs:
            self._values.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise KeyError(key)
        return self._values[key][0]

    def get(self, key: str, default: Any = None, type: Callable[[Any], Any] | None = None
            ) -> Any:
        if key not in self._values:
            return default
        value = self._values[key][0]
        if type is None:
            return value
        try:
            return type(value)
        except ValueError:
            return default

    def getlist(self, key: str, type: Callable[[Any], Any] | None = None) -> list[Any]:
        values = list(self._values.get(key, ()))
        return values if type is None else [type(v) for v in values]

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def keys(self) -> list[str]:
        return list(self._values)

    def values(self) -> list[Any]:
        return [values[0] for values in self._values.values()]

    def items(self, multi: bool = False) -> list[tuple[str, Any]]:
        if multi:
            return [(key, v) for key, values in self._values.items() for v in values]
        return [(key, values[0]) for key, values in self._values.items()]

    def lists(self) -> list[tuple[str, list[Any]]]:
        return [(key, list(values)) for key, values in self._values.items()]

    def to_dict(self, flat: bool = True) -> dict[str, Any]:
        if flat:
            return {key: values[0] for key, values in self._values.items()}
        return {key: list(values) for key, values in self._values.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MultiDict):
            return self._values == other._values
        return NotImplemented

    def __repr__(self) -> str:
        return f"MultiDict({self.items(multi=True)!r})"
