"""A hostile request corpus generated from the server's own OpenAPI document.

Nothing here is stored as data: every body is built at test time from `/api/openapi.json`,
so a new endpoint or field is covered the day it appears in the spec.

For every operation with a JSON request body the corpus yields `Case`s:
- malformed JSON: truncated, trailing garbage, a UTF-8 BOM, NaN/Infinity, comments, single
  quotes, trailing commas, duplicate keys, control characters, lone surrogates, empty bodies,
  non-object roots, 10,000-deep arrays and objects (at the root and inside a field);
- bytes that are not UTF-8 inside a string (0xFF, overlong encodings, cut-short sequences,
  encoded surrogates);
- huge and odd numbers in every field (1e400, 2^64, -2^63-1, -0, 1e-400, 1e308);
- every wrong JSON type for every field;
- a 10 MB string in each string field in turn (once per field);
- wrong or missing content types.

Each case says whether its body is valid for the operation's schema (`jsonschema`): only a
valid body may be answered with 2xx; an invalid one must get a 4xx with the JSON error body.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Iterator

import jsonschema

MARK = "__hostile_value__"
HUGE_STRING_BYTES = 10 * 1024 * 1024
DEEP = 10_000

# Values for string fields whose name says what they hold (used in the valid base body).
NAMED_STRINGS = {
    "url": "http://127.0.0.1:9/",
    "image": "127.0.0.1:9/hostile/app:1",
    "platform": "linux/amd64",
    "expiresAt": "2099-01-01T00:00:00Z",
    "password": "hostile-password-123",
    "secret": "hostile-secret-0123456789",
    "username": "hostile-user",
    "hostname": "hostile-host",
    "version": "1.0",
    "name": "hostile",
}


@dataclass
class Case:
    method: str
    path: str
    label: str
    body: bytes
    content_type: str | None = "application/json"
    # True when the body parses as JSON and matches the operation's request schema.
    valid: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # A 10 MB string case keeps only its recipe (base document, field path); `payload()`
    # builds the bytes when the request is sent, so the corpus never holds them all.
    huge: tuple | None = None

    def payload(self) -> bytes:
        if self.huge is None:
            return self.body
        base, path = self.huge
        return with_raw(base, path, b'"' + b"h" * HUGE_STRING_BYTES + b'"')


def resolve(spec: dict, schema: dict) -> dict:
    """Follows local `$ref`s (one level at a time, as often as needed)."""
    while isinstance(schema, dict) and "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = spec
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def types_of(schema: dict) -> set[str]:
    t = schema.get("type")
    if t is None:
        return set()
    return set(t) if isinstance(t, list) else {t}


def example(spec: dict, schema: dict, name: str = "") -> Any:
    """A plausible valid value for `schema` (enums take their first member)."""
    schema = resolve(spec, schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    types = types_of(schema) - {"null"}
    t = sorted(types)[0] if types else "object"
    if t == "string":
        value = NAMED_STRINGS.get(name, "hostile")
        lo = schema.get("minLength", 0)
        hi = schema.get("maxLength")
        if len(value) < lo:
            value = value + "x" * (lo - len(value))
        if hi is not None:
            value = value[:hi]
        return value
    if t == "integer":
        return max(schema.get("minimum", 1), min(schema.get("maximum", 1), 1)) if "minimum" in schema or "maximum" in schema else 1
    if t == "number":
        return 1.5
    if t == "boolean":
        return False
    if t == "array":
        items = schema.get("items")
        return [example(spec, items, name)] if items else []
    if t == "object":
        props = schema.get("properties", {})
        return {k: example(spec, v, k) for k, v in props.items()}
    return None


def body_schema(spec: dict, op: dict) -> dict | None:
    content = op.get("requestBody", {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return None
    return resolve(spec, media.get("schema", {}))


def operations(spec: dict) -> Iterator[tuple[str, str, dict]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in ("post", "put", "patch") and body_schema(spec, op) is not None:
                yield method.upper(), path, op


def string_fields(spec: dict, schema: dict, prefix=()) -> Iterator[tuple[tuple, dict]]:
    """Paths (tuples of keys/indices) of string-typed leaves reachable from an example."""
    schema = resolve(spec, schema)
    types = types_of(schema)
    if "string" in types:
        yield prefix, schema
    if "object" in types or (not types and "properties" in schema):
        for k, v in schema.get("properties", {}).items():
            yield from string_fields(spec, v, prefix + (k,))
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and "string" in types_of(resolve(spec, extra)):
            yield prefix + ("hostileKey",), resolve(spec, extra)
    if "array" in types and isinstance(schema.get("items"), dict):
        yield from string_fields(spec, schema["items"], prefix + (0,))


def put(doc: Any, path: tuple, value: Any) -> Any:
    """A copy of `doc` with `value` at `path` (objects and arrays are created as needed)."""
    doc = copy.deepcopy(doc)
    if not path:
        return value
    node = doc
    for i, key in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, dict):
            if not isinstance(node.get(key), (dict, list)):
                node[key] = [] if isinstance(nxt, int) else {}
            node = node[key]
        else:
            while len(node) <= key:
                node.append([] if isinstance(nxt, int) else {})
            node = node[key]
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
    else:
        while len(node) <= last:
            node.append(None)
        node[last] = value
    return doc


def with_raw(doc: Any, path: tuple, raw: bytes) -> bytes:
    """`doc` serialised with the raw bytes `raw` where `path` points (for literals and bytes
    JSON cannot produce)."""
    marked = json.dumps(put(doc, path, MARK), separators=(",", ":")).encode()
    needle = json.dumps(MARK).encode()
    assert marked.count(needle) == 1
    return marked.replace(needle, raw)


def drop_optional_nulls(spec: dict, schema: dict, doc: Any) -> Any:
    """The server reads `null` in an optional field as the field left out (README, API
    section); judge bodies the same way."""
    schema = resolve(spec, schema)
    if isinstance(doc, dict) and isinstance(schema, dict):
        required = set(schema.get("required", []))
        props = schema.get("properties", {})
        return {k: drop_optional_nulls(spec, props.get(k, {}), v) for k, v in doc.items()
                if not (v is None and k not in required)}
    return doc


def is_valid(schema: dict, spec: dict, body: bytes) -> bool:
    if not body.strip() and not resolve(spec, schema).get("required"):
        # No field is required: an empty body is read as `{}`.
        return True
    try:
        # RFC 8259 §8.1 lets a parser ignore a leading byte order mark, so one is not an error.
        doc = json.loads(body.decode("utf-8-sig"), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    doc = drop_optional_nulls(spec, schema, doc)
    resolver_schema = dict(schema)
    resolver_schema["components"] = spec.get("components", {})
    try:
        jsonschema.validate(doc, resolver_schema, cls=jsonschema.Draft202012Validator,
                            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    except jsonschema.ValidationError:
        return False
    except RecursionError:
        return False
    return True


MALFORMED: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("whitespace only", b"  \n\t "),
    ("null root", b"null"),
    ("array root", b"[]"),
    ("string root", b'"hostile"'),
    ("number root", b"42"),
    ("NaN root", b"NaN"),
    ("single quotes", b"{'name': 'x'}"),
    ("trailing comma", b'{"name": "x",}'),
    ("comment", b'{/* c */ "name": "x"}'),
    ("unquoted key", b"{name: 1}"),
    ("lone surrogate escape", b'{"name": "\\ud800"}'),
    ("bad escape", b'{"name": "\\x41"}'),
    ("raw control character", b'{"name": "a\x01\x00b"}'),
    ("unterminated string", b'{"name": "abc'),
    ("deep arrays", b"[" * DEEP + b"]" * DEEP),
    ("deep objects", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    ("deep, unterminated", b"[" * DEEP),
    ("NUL bytes", b"\x00" * 64),
    ("binary garbage", bytes(range(256)) * 4),
]

INVALID_UTF8: list[tuple[str, bytes]] = [
    ("0xFF byte", b"ab\xffcd"),
    ("overlong slash", b"\xc0\xaf"),
    ("cut-short sequence", b"\xe2\x82"),
    ("encoded surrogate", b"\xed\xa0\x80"),
    ("over U+10FFFF", b"\xf4\x90\x80\x80"),
    ("lone continuation", b"\x80\x80"),
]

NUMBERS: list[tuple[str, bytes]] = [
    ("1e400", b"1e400"),
    ("-1e400", b"-1e400"),
    ("2^64", b"18446744073709551616"),
    ("-2^63-1", b"-9223372036854775809"),
    ("-0", b"-0"),
    ("1e-400", b"1e-400"),
    ("1e308", b"1e308"),
    ("NaN", b"NaN"),
    ("Infinity", b"Infinity"),
    ("-Infinity", b"-Infinity"),
    ("hex", b"0x10"),
    ("leading zeros", b"007"),
    ("plus sign", b"+1"),
]

WRONG_TYPES: list[tuple[str, Any]] = [
    ("integer", 7), ("float", 2.5), ("boolean", True), ("null", None), ("array", [1, "x"]), ("object", {"k": "v"}),
    ("string", "hostile"),
]


def cases_for(spec: dict, method: str, path: str, op: dict, huge_strings=True) -> Iterator[Case]:
    schema = body_schema(spec, op)
    base = example(spec, schema)
    base_bytes = json.dumps(base).encode()

    def case(label, body, content_type="application/json", check=True):
        return Case(method, path, label, body, content_type, valid=check and is_valid(schema, spec, body))

    for label, body in MALFORMED:
        yield case(label, body)
    yield case("truncated", base_bytes[: max(1, len(base_bytes) // 2)])
    yield case("trailing garbage", base_bytes + b"}garbage")
    yield case("two documents", base_bytes + b" " + base_bytes)
    yield case("UTF-8 BOM", b"\xef\xbb\xbf" + base_bytes)
    yield case("UTF-16 body", base_bytes.decode().encode("utf-16"))
    if isinstance(base, dict) and base:
        first = next(iter(base))
        yield case("duplicate key", base_bytes[:-1] + b"," + json.dumps(first).encode() + b":" + json.dumps(base[first]).encode() + b"}")
        yield case("unknown field", json.dumps({**base, "hostileUnknownField": 1}).encode())
    yield case("text/plain content type", base_bytes, "text/plain")
    yield case("no content type", base_bytes, None)
    yield case("form content type", b"name=x&provider=y", "application/x-www-form-urlencoded")

    fields = [p for p, _ in string_fields(spec, schema)] if isinstance(base, dict) else []
    leaves: list[tuple] = []
    if isinstance(base, dict):
        leaves = sorted({p[:1] for p in fields} | {(k,) for k in base}, key=str)
    for field_path in leaves:
        name = ".".join(map(str, field_path))
        for label, raw in NUMBERS:
            yield case(f"{name} = {label}", with_raw(base, field_path, raw))
        for label, value in WRONG_TYPES:
            yield case(f"{name} as {label}", json.dumps(put(base, field_path, value)).encode())
        yield case(f"{name} nested 10,000 deep", with_raw(base, field_path, b"[" * DEEP + b"]" * DEEP))
    for field_path in fields:
        name = ".".join(map(str, field_path))
        for label, raw in INVALID_UTF8:
            yield case(f"{name} with {label}", with_raw(base, field_path, b'"' + raw + b'"'))
        if huge_strings:
            # Only the body's validity is judged on the spec's maxLength; the server may also
            # refuse the size (413), which is a 4xx too.
            yield Case(method, path, f"{name} as a 10 MB string", b"", huge=(base, field_path))


def corpus(spec: dict, huge_strings=True) -> Iterator[Case]:
    for method, path, op in operations(spec):
        yield from cases_for(spec, method, path, op, huge_strings=huge_strings)


if __name__ == "__main__":
    # `python3 Tests/e2e/hostile_corpus.py openapi.json` prints the corpus summary.
    import sys
    spec = json.load(open(sys.argv[1]))
    total = 0
    for method, path, op in operations(spec):
        n = sum(1 for _ in cases_for(spec, method, path, op, huge_strings=False))
        total += n
        print(f"{method:5} {path:50} {n:4} cases")
    print(f"{total} cases (plus one 10 MB string per string field)")
