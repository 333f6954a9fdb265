"""Open Inference Protocol v2 inputs, checked against their own shape and datatype.

A v2 input says what it holds: ``shape`` (the number of values is the product of its
dimensions) and ``datatype`` (BOOL, INT8..UINT64, FP16..FP64, BYTES). Both are checked
here, before the input meets the model's signature, for column and tensor signatures
alike. Without this numpy turns 5.1 sent as INT8 into 5, wraps 300 round to 44, reads
``true`` as 1.0, and a wrong shape goes unnoticed wherever the values can be read
without it. Pure; dimensions are multiplied as Python integers, so a shape of
[1000000000, 4] is a number to compare, never an allocation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mlkube.errors import InvalidInputError
from mlkube.server.formats import V2_DATATYPES

_FLOATS = frozenset({"FP16", "FP32", "FP64"})
_DATATYPES_HINT = "Give \"datatype\" one of " + ", ".join(V2_DATATYPES) + "."


@dataclass(slots=True)
class V2Input:
    """One checked v2 input: its values flattened, in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: list[Any]

    @property
    def label(self) -> str:
        return f"v2 input {self.name!r}"

    def to_array(self) -> Any:
        """The values as a numpy array of the input's datatype and shape."""
        array = np.asarray(self.values, dtype=V2_DATATYPES[self.datatype])
        return array.reshape(self.shape)


def check_v2_input(item: dict[str, Any], *, booleans: bool = True,
                   floats: bool = True) -> V2Input:
    """``item`` checked: a known datatype, a shape of non-negative integers whose product
    is the number of values, and values of that datatype. ``booleans`` False says the
    body holds no JSON booleans, so numeric values need no search for them; ``floats``
    False leaves the values of FP inputs to the caller (a column's own check refuses
    what they may not hold), sparing the hot path a second pass over them."""
    name = item["name"]
    datatype = item.get("datatype")
    if datatype not in V2_DATATYPES:
        if not isinstance(datatype, str) or datatype.upper() not in V2_DATATYPES:
            said = "no datatype" if datatype is None else f"datatype {datatype!r}, which " \
                "the Open Inference Protocol does not define"
            raise InvalidInputError(f"v2 input {name!r} has {said}.", hint=_DATATYPES_HINT)
        datatype = datatype.upper()
    shape = item.get("shape")
    count = 1
    if shape.__class__ is list:
        for size in shape:
            if size.__class__ is not int or size < 0:
                break
            count *= size
        else:
            shape = tuple(shape)
    if shape.__class__ is not tuple:
        said = "no shape" if shape is None else f"shape {shape!r}"
        raise InvalidInputError(
            f"v2 input {name!r} has {said}; a shape is a JSON array of non-negative "
            "integers, the size of each dimension.",
            hint='Send e.g. "shape": [2, 4] for 2 rows of 4 values.')
    values = flatten(item["data"])
    if count != len(values):
        raise InvalidInputError(
            f"v2 input {name!r} has shape {list(shape)} ({_values(count)}), but data has "
            f"{_values(len(values))}.",
            hint="Make the shape's dimensions multiply to the number of values in data.")
    if floats or datatype not in _FLOATS:
        _check_values(f"v2 input {name!r}", datatype, values, booleans)
    return V2Input(name, datatype, shape, values)


def flatten(data: Any) -> list[Any]:
    """Nested JSON arrays as one flat list, row-major (v2 allows either form)."""
    if isinstance(data, list) and data and isinstance(data[0], list):
        flat: list[Any] = []
        for item in data:
            flat.extend(flatten(item))
        return flat
    return data if isinstance(data, list) else [data]


def _values(count: int) -> str:
    return f"{count} value" + ("" if count == 1 else "s")


def _check_values(label: str, datatype: str, values: list[Any], booleans: bool) -> None:
    if datatype == "BOOL":
        _all_of(label, datatype, values, bool, "true or false")
        return
    if datatype == "BYTES":
        _all_of(label, datatype, values, str, "strings")
        return
    if booleans:
        for i, value in enumerate(values):
            if value.__class__ is bool:
                raise _offender(label, datatype, value, i)
    if not values:
        return
    try:
        array = np.asarray(values)
    except (ValueError, TypeError):
        array = np.asarray(values, dtype=object)
    if array.dtype.kind not in "iuf":
        for i, value in enumerate(values):
            if not isinstance(value, int | float):
                raise _offender(label, datatype, value, i)
        array = np.asarray(values, dtype=np.float64)
    dtype = np.dtype(V2_DATATYPES[datatype])
    if dtype.kind in "iu":
        if array.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(array) | (array != np.floor(array)))
            if bad.size:
                i = int(bad[0])
                raise _offender(label, datatype, values[i], i)
        info = np.iinfo(dtype)
        bad = np.flatnonzero((array < info.min) | (array > info.max))
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"{label} is {datatype}, but value {i} is {values[i]}, outside "
                f"{datatype}'s range {info.min}..{info.max}.",
                hint=f"Send values that fit {datatype}, or a wider datatype.")
    elif dtype.itemsize < 8:
        limit = float(np.finfo(dtype).max)
        bad = np.flatnonzero(np.abs(array) > limit)
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"{label} is {datatype}, but value {i} is {values[i]}, beyond {datatype}'s "
                f"largest value {limit:g}.", hint="Send FP64 for values this large.")


def _all_of(label: str, datatype: str, values: list[Any], kind: type, what: str) -> None:
    for i, value in enumerate(values):
        if value.__class__ is not kind:
            raise InvalidInputError(
                f"{label} is {datatype}, but value {i} is {_describe(value)}.",
                hint=f"A {datatype} input holds {what} only.")


def _offender(label: str, datatype: str, value: Any, index: int) -> InvalidInputError:
    integer = np.dtype(V2_DATATYPES[datatype]).kind in "iu"
    return InvalidInputError(
        f"{label} is {datatype}, but value {index} is {_describe(value)}.",
        hint=f"A {datatype} input holds {'integers' if integer else 'numbers'} only; "
        "send another datatype for other values.")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"
