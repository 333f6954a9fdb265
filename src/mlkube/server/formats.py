"""Request and response formats: Azure ML, MLflow, the Open Inference Protocol v2, CSV.

Every scoring route accepts every request format; the format is detected from the
body, never from the route, so a body that works locally works on the cluster. The
route only picks the response shape (``/score`` bare JSON, ``/invocations``
``{"predictions": ...}``, v2 ``{"outputs": [...]}``).

Decoding stops at a neutral ``ScoringRequest`` (rows, records, columns, a tensor,
CSV cells or v2 inputs); turning that into model input is the signature's job
(``signature.py``). All functions here are pure.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import itertools
import re
from collections.abc import Callable
from typing import Any

import orjson

from mlkube.errors import InvalidInputError, UnsupportedMediaTypeError

ACCEPTED_FORMATS = (
    '{"data": [[...], ...]} (rows, values in signature column order)',
    '{"data": [{"column": value, ...}, ...]}',
    '{"input_data": {"columns": [...], "index": [...], "data": [[...]]}}',
    '{"input_data": [...]} (rows or a tensor)',
    '{"input_data": {"name": [...], ...}} (named columns or tensors)',
    '{"dataframe_split": {"columns": [...], "data": [[...]]}}',
    '{"dataframe_records": [{"column": value, ...}]}',
    '{"instances": [...]}',
    '{"inputs": [...] or {"name": [...]}}',
    '{"inputs": [{"name", "shape", "datatype", "data"}]} (Open Inference Protocol v2)',
    "text/csv with a header row",
)
ACCEPTED_HINT = "Send one of: " + "; ".join(ACCEPTED_FORMATS) + '; each may add "params": {...}.'

_ENVELOPES = ("data", "input_data", "dataframe_split", "dataframe_records", "instances", "inputs")
# Keys that may sit beside the envelope without being one.
_SIDE_KEYS = frozenset({"params", "parameters", "id", "outputs"})
_SPLIT_KEYS = frozenset({"columns", "index", "data"})
# curl -d sends form-urlencoded by default; its body is the JSON the user typed.
_JSON_TYPES = frozenset({"", "application/json", "text/json", "text/plain",
                         "application/x-www-form-urlencoded"})
_CSV_TYPES = frozenset({"text/csv", "application/csv"})
# Row labels are pandas index values: strings, or integers that fit int64.
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1

V2_DATATYPES = {
    "BOOL": "bool",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_NUMPY_TO_V2 = {v: k for k, v in V2_DATATYPES.items()}
#: The name of a model's one unnamed output, in responses and in the model's metadata.
V2_OUTPUT_NAME = "predict"
#: The binary tensor data extension (Triton's clients use it by default): the request
#: body is this many bytes of JSON, then the raw bytes of each input that says
#: ``parameters.binary_data_size``.
V2_BINARY_HEADER = b"inference-header-content-length"
#: Request-level parameters of that extension: they ask for binary outputs, which JSON
#: outputs satisfy (clients read either), and are never the model's params.
_V2_PROTOCOL_PARAMETERS = frozenset({"content_type", "headers", "binary_data_output",
                                     "binary_data", "binary_data_size"})


@dataclasses.dataclass(slots=True)
class ScoringRequest:
    """One decoded scoring request, before it meets the model's signature.

    ``kind`` is ``array`` (rows or a tensor), ``split`` (rows with ``columns``),
    ``records``, ``columns`` (name -> values), ``csv`` (header in ``columns``, string
    cells) or ``v2`` (a list of v2 input objects).
    """

    kind: str
    data: Any
    columns: list[str] | None = None
    params: dict[str, Any] | None = None
    format: str = ""
    request_id: str | None = None
    #: False when the body holds no JSON ``true``/``false`` at all, so numeric checks
    #: may skip looking for booleans (numpy silently turns them into 1.0 and 0.0).
    booleans: bool = True


def media_type(content_type: str | None) -> str:
    """``"application/json"`` from ``"Application/JSON; charset=utf-8"``."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_media_type(media: str) -> bool:
    return media in _JSON_TYPES or media.endswith("+json")


def parse_json(body: bytes) -> Any:
    """The body as JSON, or a 400 saying where the JSON breaks."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        if "UTF-8" in error.msg:
            _raise_if_not_utf8(body)
        raise InvalidInputError(
            f"The request body is not valid JSON: {error.msg} at line {error.lineno} "
            f"column {error.colno} (char {error.pos}).",
            hint="Check the JSON near that position (quotes, commas, brackets).",
        ) from None


def _raise_if_not_utf8(body: bytes) -> None:
    """orjson reports any invalid UTF-8 at char 0 as "surrogates not allowed"; Python's
    decoder knows the offending byte and why, so the error says that instead."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as error:
        position = error.start
        line = body.count(b"\n", 0, position) + 1
        column = position - (body.rfind(b"\n", 0, position) + 1) + 1
        raise InvalidInputError(
            f"The request body is not valid UTF-8: byte 0x{body[position]:02x} at byte "
            f"{position} (line {line} column {column}): {error.reason}.",
            hint="JSON text must be UTF-8: encode the body as UTF-8, or write other "
            "characters as \\uXXXX escapes.",
        ) from None


def parse_request(body: bytes, content_type: str | None) -> ScoringRequest:
    """Detect the format of a no-code scoring request and decode it."""
    media = media_type(content_type)
    if media in _CSV_TYPES:
        return parse_csv(body)
    if not is_json_media_type(media):
        raise UnsupportedMediaTypeError(
            f"Content type {media!r} is not supported.",
            hint="Send application/json (any of the JSON formats) or text/csv.",
        )
    if not body.strip():
        raise InvalidInputError("The request body is empty.", hint=ACCEPTED_HINT)
    request = detect_format(parse_json(body))
    # One C-speed scan of the bytes spares a Python-level scan of every value later.
    request.booleans = _mentions(body, b"true") or _mentions(body, b"false")
    return request


# How many times one letter of the word is looked at before the next letter is tried.
_LOOKS_PER_LETTER = 16


def _mentions(body: bytes, word: bytes) -> bool:
    """``word in body``, faster on numeric bodies: finding one letter is a ``memchr``
    (several GB/s), and a numeric body holds letters only in its keys, so some letter of
    ``word`` is rare there (``r`` of "true" and ``f`` of "false" in none of iris's keys,
    though their ``t`` is in every one). Each letter in turn is looked at a few times;
    one that runs out first answers for certain. A substring search over the whole body
    costs about 1 ms on a 10,000-row one."""
    for offset, letter in enumerate(word):
        position = body.find(letter, offset)
        for _ in range(_LOOKS_PER_LETTER):
            if position == -1:
                return False
            if body.startswith(word, position - offset):
                return True
            position = body.find(letter, position + 1)
    return word in body


def detect_format(document: Any) -> ScoringRequest:
    """Which of the accepted formats a parsed JSON body is, decoded to a request."""
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"The request body is a JSON {_kind(document)}, not an object with one of "
            f"the keys {', '.join(_ENVELOPES)}.",
            hint=ACCEPTED_HINT,
        )
    found = [k for k in _ENVELOPES if k in document]
    if not found:
        keys = [k for k in document if k not in _SIDE_KEYS]
        raise InvalidInputError(
            "The request body matches no accepted format"
            + (f" (its keys: {', '.join(map(repr, keys[:10]))})." if keys else "."),
            hint=ACCEPTED_HINT,
        )
    if len(found) > 1:
        raise InvalidInputError(
            f"The request body has more than one input key: {', '.join(found)}.",
            hint="Send exactly one of them.",
        )
    key = found[0]
    if len(document) > 1:
        unknown = [k for k in document if k != key and k not in _SIDE_KEYS]
        if unknown:
            # A misspelt "params" would otherwise be dropped without a word.
            raise InvalidInputError(
                f"The request body has {_keys(unknown)} beside {key!r}, which no format "
                "defines.",
                hint=f'Remove {"it" if len(unknown) == 1 else "them"}: beside the input a '
                'body may have "params" (and in the v2 protocol "id", "parameters" and '
                '"outputs").',
            )
    value = document[key]
    params = document.get("params")
    request = _decode_envelope(key, value)
    if key == "inputs" and request.kind == "v2":
        request.request_id = document.get("id")
        if params is None and isinstance(document.get("parameters"), dict):
            params = {k: v for k, v in document["parameters"].items()
                      if k not in _V2_PROTOCOL_PARAMETERS} or None
    request.params = params
    return request


def all_dicts(values: list[Any]) -> bool:
    """Whether every item is a JSON object, in a C-level loop (10,000 records: a
    generator's Python frame per item cost a fifth of a millisecond)."""
    return all(map(isinstance, values, itertools.repeat(dict)))


def _keys(keys: list[Any]) -> str:
    shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
    return ("the key " if len(keys) == 1 else "the keys ") + shown


def _decode_envelope(key: str, value: Any) -> ScoringRequest:
    if key in ("data", "input_data", "instances", "inputs"):
        if isinstance(value, list):
            if key == "inputs" and value and all(_is_v2_input(v) for v in value):
                return ScoringRequest("v2", value, format="v2")
            if value and isinstance(value[0], dict):
                return ScoringRequest("records", value, format=key)
            return ScoringRequest("array", value, format=key)
        if isinstance(value, dict):
            if key in ("data", "input_data") and "data" in value and set(value) <= _SPLIT_KEYS:
                return _split(value, key)
            return ScoringRequest("columns", value, format=key)
        raise InvalidInputError(
            f'"{key}" must be a JSON array or object, not a {_kind(value)}.', hint=ACCEPTED_HINT
        )
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise InvalidInputError(
                '"dataframe_split" must be an object with "data" (and usually "columns").',
                hint='Send {"dataframe_split": {"columns": [...], "data": [[...]]}}.',
            )
        return _split(value, key)
    # dataframe_records
    if not isinstance(value, list) or not all_dicts(value):
        raise InvalidInputError(
            '"dataframe_records" must be a JSON array of objects.',
            hint='Send {"dataframe_records": [{"column": value, ...}]}.',
        )
    return ScoringRequest("records", value, format=key)


def _split(value: dict[str, Any], key: str) -> ScoringRequest:
    columns = value.get("columns")
    if columns is not None and not isinstance(columns, list):
        raise InvalidInputError(f'"{key}.columns" must be a JSON array of column names.',
                                hint=f'Send "{key}": {{"columns": ["a", "b"], "data": [[1, 2]]}}.')
    index = value.get("index")
    if index is not None and not _is_index(index):
        raise InvalidInputError(
            f'"{key}.index" must be a JSON array of row labels (strings, or integers '
            'within int64).',
            hint='Send e.g. "index": [0, 1], one label per row, or leave "index" out.')
    return ScoringRequest("split" if columns is not None else "array", value["data"],
                          columns=columns, format=key)


def _is_index(index: Any) -> bool:
    if not isinstance(index, list):
        return False
    for label in index:
        kind = label.__class__
        if kind is str:
            continue
        if kind is not int or not _INT64_MIN <= label <= _INT64_MAX:
            return False
    return True


def _is_v2_input(value: Any) -> bool:
    return isinstance(value, dict) and "name" in value and "data" in value and (
        "datatype" in value or "shape" in value
    )


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def inline_binary_tensors(body: bytes, json_length: int) -> bytes:
    """A request of the binary tensor data extension as plain v2 JSON: each input's raw
    bytes (little-endian values; BYTES as 4-byte length-prefixed items) become its
    ``data``."""
    import numpy as np

    if not 0 < json_length <= len(body):
        raise InvalidInputError(
            f"Inference-Header-Content-Length is {json_length}, but the body has "
            f"{len(body)} bytes.", hint="Send the JSON header's length in bytes.")
    document = parse_json(body[:json_length])
    rest = memoryview(body)[json_length:]
    offset = 0
    for tensor in (document.get("inputs") or []) if isinstance(document, dict) else []:
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        size = parameters.pop("binary_data_size", None) if isinstance(parameters, dict) else None
        if size is None:
            continue
        chunk = bytes(rest[offset:offset + int(size)])
        if len(chunk) != int(size):
            raise InvalidInputError(
                f"Input {tensor.get('name')!r} says binary_data_size {size}, but only "
                f"{len(chunk)} bytes follow.", hint="Send every input's bytes in full.")
        offset += int(size)
        datatype = str(tensor.get("datatype", "")).upper()
        if datatype == "BYTES":
            items, position = [], 0
            while position + 4 <= len(chunk):
                length = int.from_bytes(chunk[position:position + 4], "little")
                items.append(chunk[position + 4:position + 4 + length].decode("utf-8"))
                position += 4 + length
            tensor["data"] = items
        elif datatype in V2_DATATYPES:
            dtype = np.dtype(V2_DATATYPES[datatype]).newbyteorder("<")
            tensor["data"] = np.frombuffer(chunk, dtype=dtype).tolist()
        else:
            raise InvalidInputError(f"Input {tensor.get('name')!r} has datatype {datatype!r}.",
                                    hint=f"Use one of {', '.join(V2_DATATYPES)}.")
    if offset != len(rest):
        raise InvalidInputError(
            f"The body has {len(rest) - offset} bytes after the inputs' binary data.",
            hint="Give every binary input its parameters.binary_data_size.")
    return orjson.dumps(document)


def parse_csv(body: bytes) -> ScoringRequest:
    """CSV with a header row: column names in ``columns``, the rows after it in ``data``
    (a ``CsvRows``: string cells, or numbers read at C speed where every cell is one)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"The CSV body is not UTF-8: {error}.") from None
    stream = io.StringIO(text)
    header = next((row for row in csv.reader(stream) if row), None)
    if header is None:
        raise InvalidInputError("The CSV body is empty.", hint="Send a header row, then rows.")
    return ScoringRequest("csv", CsvRows(text[stream.tell():]),
                          columns=[c.strip() for c in header], format="csv")


# Characters no JSON number holds, but other JSON does: a cell with one is a quoted field,
# a literal (true, false, null: float() refuses them, JSON would not), or brackets.
_NOT_IN_NUMBERS = ('"', "t", "f", "n", "[", "]", "{", "}")
# An integer minus zero (JSON reads it as the integer 0, float() as -0.0); the pattern
# starts with its literal, so re scans for "-" at C speed. "1e-0" matches too: read cell
# by cell, harmlessly.
_MINUS_ZERO = re.compile(r"-0+(?![\d.eE])")


@dataclasses.dataclass(slots=True)
class CsvRows:
    """A CSV body's rows after the header, split only when asked, and only as needed.

    ``rows()`` is what Python's csv module reads (string cells, which each column's own
    parsing turns into values). ``numbers()`` reads a wholly numeric table in one
    ``orjson`` call instead: on a 10,000-row body the csv module and a ``float()`` per
    cell cost three times LightGBM's predict. orjson's numbers are correctly rounded,
    as ``float()``'s are, so the values are the same; where any cell is not a plain JSON
    number it returns None, and the caller reads the cells one by one as before.
    """

    text: str

    def matrix(self, width: int) -> Any:
        """The rows of a big body as one float64 matrix of ``width`` columns, read by
        pandas' C parser (half of what ``numbers()`` and the matrix made from it cost on a
        10,000-row body), when every cell is a plain number; else None, and the caller
        reads them another way, as it does a small body (pandas' fixed cost is too high
        there) or without pandas 3.1. The values are ``float()``'s (see
        ``_pandas_csv_reader``). Tables pandas would read unlike the csv module are kept
        from it: quotes, the letters of literals (nan, inf, true), NUL; a short row or a
        blank one (pandas fills them with NaN, which no such text holds otherwise; the csv
        module skips an empty line and refuses one of spaces) or a long one gives None."""
        text = self.text
        if len(text) < _PANDAS_FROM_CHARS or any(
                character in text for character in _NOT_IN_PANDAS_NUMBERS):
            return None
        converter = _pandas_csv_reader()
        if converter is None:
            return None
        try:
            matrix = converter(text)
        except (ValueError, OverflowError):  # a cell no number, no rows, a long row
            return None
        if matrix.ndim != 2 or matrix.shape[1] != width or not len(matrix) or (
                matrix != matrix).any():  # NaN: a short row or an empty cell
            return None
        return matrix

    def rows(self) -> list[list[str]]:
        return [row for row in csv.reader(io.StringIO(self.text)) if row]

    def numbers(self) -> list[list[Any]] | None:
        """Every row as a list of numbers, when every cell is a JSON number; else None."""
        text = self.text
        if any(character in text for character in _NOT_IN_NUMBERS) or (
                "-0" in text and _MINUS_ZERO.search(text)):
            return None
        end = "\r\n" if "\r\n" in text else "\n"
        text = text.strip("\r\n")
        if not text or end + end in text:
            return None  # no rows, or a blank line inside (which the csv module skips)
        # Each line break becomes "],[" in one pass. What is left of "\r" or "\n" is a
        # lone carriage return (a row break to the csv module) or mixed line ends.
        document = "[[" + text.replace(end, "],[") + "]]"
        if "\r" in document or "\n" in document:
            return None
        try:
            rows: list[list[Any]] = orjson.loads(document)
        except orjson.JSONDecodeError:
            return None  # "", "nan", "+1", ".5"...: float() reads them one by one
        return rows


# pandas costs about 200 µs a call before the first cell: it pays from about 1,000 rows.
_PANDAS_FROM_CHARS = 64 * 1024
# What pandas reads unlike the csv module and float(): quotes, the letters of nan, inf and
# the JSON literals (float() reads "nan" and "inf" itself, cell by cell), and NUL, which
# ends a field in pandas' C tokenizer.
_NOT_IN_PANDAS_NUMBERS = ('"', "n", "i", "t", "f", "N", "I", "\x00")


@functools.cache
def _pandas_csv_reader() -> Callable[[str], Any] | None:
    """pandas' C CSV parser as ``text -> float64 matrix``, or None without pandas 3.1 (the
    server needs it only for speed here; MLflow models bring pandas). From 3.1 every
    float_precision mode converts exactly as float() does (the option is deprecated);
    before, the default converter may differ in the last bit."""
    try:
        import numpy as np
        import pandas as pd
    except ImportError:
        return None
    if tuple(int(part) for part in re.findall(r"\d+", pd.__version__)[:2]) < (3, 1):
        return None

    def read(text: str) -> Any:
        return pd.read_csv(io.StringIO(text), header=None, index_col=False,
                           dtype=np.float64, na_filter=False, engine="c",
                           skip_blank_lines=False).to_numpy()

    return read


# --- responses ---------------------------------------------------------------------------

_DUMPS_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """What orjson cannot write itself: pandas objects, odd numpy arrays and scalars."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):
        return value.to_dict(orient="records")  # a DataFrame, as MLflow writes it
    if hasattr(value, "tolist"):
        return value.tolist()  # Series, non-contiguous arrays, numpy scalars
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"cannot serialise a {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_DUMPS_OPTIONS)


def encode_score(output: Any) -> bytes:
    """``/score``: the bare prediction, as Azure ML answers."""
    return dumps(output)


def encode_invocations(output: Any) -> bytes:
    """``/invocations``: ``{"predictions": ...}``, as MLflow's scoring server answers."""
    return dumps({"predictions": output})


def encode_v2(output: Any, *, model_name: str, model_version: str | None,
              request_id: str | None) -> bytes:
    """The Open Inference Protocol v2 response for a prediction."""
    body: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "id": request_id,
        "parameters": {},
        "outputs": v2_outputs(output),
    }
    return dumps(body)


def v2_outputs(output: Any) -> list[dict[str, Any]]:
    import numpy as np

    if hasattr(output, "columns") and hasattr(output, "to_numpy"):
        return [_v2_tensor(str(c), output[c].to_numpy()) for c in output.columns]
    if isinstance(output, dict):
        return [_v2_tensor(str(k), np.asarray(v)) for k, v in output.items()]
    if hasattr(output, "to_numpy"):
        output = output.to_numpy()
    return [_v2_tensor(V2_OUTPUT_NAME, np.asarray(output))]


def _v2_tensor(name: str, array: Any) -> dict[str, Any]:
    datatype = _NUMPY_TO_V2.get(array.dtype.name)
    if datatype is None:
        datatype = "BYTES"
        array = array.astype(object)
    data = array.ravel()
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": datatype,
        "data": data.tolist() if datatype == "BYTES" or not data.flags.c_contiguous else data,
    }
