"""phyff._native exposes everything the C headers declare, with no second edit.

The cffi cdef is generated from the headers at build time (phyff/protocol/_cdefgen.py).
These tests read the headers independently of the generator (plain text
scanning, no pycparser) and check that every ``PHYFF_*`` constant, enum
member, ``phyff_*`` function, struct and struct field they declare is present
in the compiled module, with the header's value where the header spells one
out. Then they prove the mechanism: a status, a constant, a record and a
function added to a temporary copy of wire.h appear in the generated cdef and,
compiled, in Python.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from cffi import FFI

from phyff._native import ffi, lib
from phyff.protocol import _cdefgen

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "shared" / "include"
# The headers whose declarations phyff._native must expose (what the module
# is compiled from: shared/, the firmware core and its port interface, the
# host port).
HEADERS = sorted([
    *(INCLUDE / "phyff").glob("*.h"),
    *(ROOT / "firmware" / "src" / "core").glob("*.h"),
    ROOT / "firmware" / "src" / "port.h",
    *(ROOT / "firmware" / "ports" / "host").glob("*.h"),
])

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_INT_LITERAL = re.compile(r"^(0[xX][0-9a-fA-F]+|\d+)[uUlL]*$")


def _clean(text: str) -> str:
    """Header text without comments, continuation lines joined."""
    return _COMMENT.sub(" ", text).replace("\\\n", " ")


def _macros(text: str) -> dict[str, str]:
    """Object-like macros with a value: name -> body. Include guards (no
    body), function-like macros, string or float values and compiler
    attributes (PHYFF_NODISCARD) are not constants cffi can expose."""
    found: dict[str, str] = {}
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)([^\n]*)$", text, re.M):
        name, rest = m.group(1), m.group(2)
        if rest.startswith("("):
            continue
        body = rest.strip()
        if (not body or '"' in body or "__attribute__" in body
                or re.search(r"\d\.\d|\d[eE][+-]?\d", body)):
            continue
        found[name] = body
    return found


def _overridable(text: str) -> set[str]:
    """Macros whose header value is only a default (#ifndef NAME / #define NAME)."""
    return set(re.findall(r"#[ \t]*ifndef[ \t]+(\w+)\s*\n[ \t]*#[ \t]*define[ \t]+\1\b", text))


def _enums(text: str) -> dict[str, dict[str, str | None]]:
    """enum name -> {member: literal value or None}."""
    out: dict[str, dict[str, str | None]] = {}
    for m in re.finditer(r"\benum\s+(\w+)\s*\{(.*?)\}", text, re.S):
        members: dict[str, str | None] = {}
        for item in m.group(2).split(","):
            item = item.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            members[name.strip()] = value.strip() or None
        out[m.group(1)] = members
    return out


def _code(text: str) -> str:
    """Text without preprocessor lines (macro bodies are not declarations)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def _functions(text: str) -> set[str]:
    return set(re.findall(r"\b(phyff_[a-z0-9_]+)\s*\(", _code(text)))


def _structs(text: str) -> dict[str, list[str] | None]:
    """struct name -> field names, or None when the struct nests an aggregate
    (its nameless members are not all expressible in cffi; see _cdefgen)."""
    out: dict[str, list[str] | None] = {}
    code = _code(text)
    for m in re.finditer(r"\bstruct\s+(phyff_\w+)\s*\{", code):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(code[i], 0)
            i += 1
        body = code[m.end():i - 1]
        if "{" in body:
            out[m.group(1)] = None
            continue
        names = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
            decl = re.sub(r"\[[^\]]*\]", "", decl)
            names.append(fp.group(1) if fp else re.findall(r"\w+", decl)[-1])
        out[m.group(1)] = names
    return out


@pytest.fixture(scope="module")
def headers() -> dict[Path, str]:
    assert HEADERS, "no headers found: the test must run from a phyff checkout"
    return {h: _clean(h.read_text()) for h in HEADERS}


def test_every_integer_constant_reaches_python(headers: dict[Path, str]) -> None:
    missing, wrong = [], []
    for path, text in headers.items():
        defaults = _overridable(text)
        for name, body in _macros(text).items():
            if not hasattr(lib, name):
                missing.append(f"{name} ({path.name})")
            elif _INT_LITERAL.match(body) and name not in defaults:
                want = int(body.rstrip("uUlL"), 0)
                if getattr(lib, name) != want:
                    wrong.append(f"{name} = {getattr(lib, name)}, header says {body}")
    assert not missing, ("#define constants declared in the headers but missing from "
                         f"phyff._native: {missing}. Rebuild (python3 setup.py build_ext "
                         "--inplace); if they are still missing, _cdefgen.py skipped them")
    assert not wrong, wrong


def test_every_enum_and_member_reaches_python(headers: dict[Path, str]) -> None:
    missing, wrong = [], []
    for path, text in headers.items():
        for enum_name, members in _enums(text).items():
            try:
                elements = ffi.typeof(f"enum {enum_name}").elements
            except ffi.error:
                missing.append(f"enum {enum_name} ({path.name})")
                continue
            for name, value in members.items():
                if not hasattr(lib, name):
                    missing.append(f"{name} ({path.name})")
                    continue
                if name not in elements.values():
                    missing.append(f"{name} in ffi's enum {enum_name}")
                if value is not None and _INT_LITERAL.match(value):
                    if getattr(lib, name) != int(value.rstrip("uUlL"), 0):
                        wrong.append(f"{name} = {getattr(lib, name)}, header says {value}")
    assert not missing, f"declared in the headers but missing from phyff._native: {missing}"
    assert not wrong, wrong


def test_the_status_enum_in_python_is_the_header_enum(headers: dict[Path, str]) -> None:
    """phyff.protocol.wire.Status is a generated class (so type checkers see
    its members), so it must hold exactly wire.h's status codes."""
    from phyff.protocol.wire import Status

    wire = _enums(headers[INCLUDE / "phyff" / "wire.h"])["phyff_status"]
    assert {f"PHYFF_ERR_{s.name}" if s.name != "OK" else "PHYFF_OK" for s in Status} == set(wire)


def test_the_generated_enums_are_what_the_headers_define() -> None:
    """protocol/enums.py is generated from the compiled headers (``make enums``)
    and committed so that type checkers see the members: it must be exactly
    what the generator writes for today's headers."""
    from phyff.protocol import _enumgen

    assert _enumgen.TARGET.read_text() == _enumgen.render(), (
        "host/phyff/protocol/enums.py is stale: run `make enums` and commit it")


def test_every_enum_class_holds_every_header_name(headers: dict[Path, str]) -> None:
    """Each generated enum holds every name of its prefix the headers define."""
    from phyff.protocol import _enumgen, enums

    for cls, prefix, extra, _doc in _enumgen.ENUMS:
        declared = {k[len(prefix):] for k in dir(lib)
                    if k.startswith(prefix) and not k.endswith("_SIZE")} | set(extra)
        assert {m.name for m in getattr(enums, cls)} == declared, cls


def test_every_function_reaches_python(headers: dict[Path, str]) -> None:
    missing = [f"{name} ({path.name})" for path, text in headers.items()
               for name in sorted(_functions(text)) if not hasattr(lib, name)]
    assert not missing, f"functions declared in the headers but missing from lib: {missing}"


def test_every_struct_and_field_reaches_python(headers: dict[Path, str]) -> None:
    missing = []
    checked = 0
    for path, text in headers.items():
        for name, fields in _structs(text).items():
            try:
                ctype = ffi.typeof(f"struct {name}")
            except ffi.error:
                missing.append(f"struct {name} ({path.name})")
                continue
            have = {f for f, _ in ctype.fields}
            missing += [f"{name}.{f}" for f in fields or [] if f not in have]
            checked += len(fields or [])
    assert not missing, f"declared in the headers but missing from ffi: {missing}"
    assert checked > 50, "the header scan found too few fields: the regexes need a look"


def test_wire_records_have_their_wire_size() -> None:
    """The compiler, not the cdef, decides layout: sizes equal the wire sizes."""
    for record, size in [("header", "HEADER"), ("error", "ERROR"), ("event", "EVENT"),
                         ("caps", "CAPS"), ("config", "CONFIG"),
                         ("query_head", "QUERY_HEAD"), ("stats", "STATS"),
                         ("medium_desc", "MEDIUM_DESC"), ("measure_head", "MEASURE_HEAD")]:
        assert ffi.sizeof(f"struct phyff_{record}") == getattr(lib, f"PHYFF_{size}_SIZE")


# ---- the mechanism, on a temporary copy of the headers -------------------

_ADDITIONS = {
    # (anchor in wire.h, text inserted right after it)
    "PHYFF_ERR_NO_LOAD = 30": ",\n    PHYFF_ERR_CDEFGEN_PROBE = 99 /* added by a test */",
    "#define PHYFF_STATS_SIZE 44u": """
#define PHYFF_PROBE_RECORD_SIZE 6u
struct phyff_probe_record {
    uint16_t tag;
    uint32_t count;
};
static inline uint32_t phyff_probe_record_total(const struct phyff_probe_record *r,
                                                const uint8_t extra[PHYFF_PROBE_RECORD_SIZE]) {
    return r->count + r->tag + extra[0];
}
""",
}


@pytest.fixture
def extended_include(tmp_path: Path) -> Path:
    """A copy of shared/include whose wire.h gained a status, a constant, a
    record and a function."""
    include = tmp_path / "include"
    shutil.copytree(INCLUDE, include)
    wire = include / "phyff" / "wire.h"
    text = wire.read_text()
    for anchor, addition in _ADDITIONS.items():
        assert text.count(anchor) == 1, f"wire.h changed: update the anchor {anchor!r}"
        text = text.replace(anchor, anchor + addition)
    wire.write_text(text)
    return include


def _status_enum(cdef: str) -> str:
    m = re.search(r"enum phyff_status \{([^}]*)\}", cdef)
    assert m, "the generated cdef has no enum phyff_status"
    return m.group(1)


def test_a_status_added_to_wire_h_is_in_the_generated_cdef(extended_include: Path) -> None:
    base = _cdefgen.generate_cdef([INCLUDE / "phyff" / "wire.h"], [INCLUDE])
    cdef = _cdefgen.generate_cdef([extended_include / "phyff" / "wire.h"], [extended_include])
    assert "PHYFF_ERR_CDEFGEN_PROBE" not in base
    assert "PHYFF_ERR_CDEFGEN_PROBE" in _status_enum(cdef).split(", ")
    assert "#define PHYFF_PROBE_RECORD_SIZE ..." in cdef
    assert re.search(r"struct phyff_probe_record \{\s*uint16_t tag;\s*uint32_t count;"
                     r"\s*\.\.\.;\s*\};", cdef)
    # The inline function, its array parameter passed as the pointer it is.
    assert ("uint32_t phyff_probe_record_total(const struct phyff_probe_record *r, "
            "const uint8_t *extra);") in cdef
    # Nothing else changed, and the text is a cdef cffi accepts.
    added = set(re.findall(r"\w+", cdef)) - set(re.findall(r"\w+", base))
    assert added == {"PHYFF_ERR_CDEFGEN_PROBE", "PHYFF_PROBE_RECORD_SIZE",
                     "phyff_probe_record", "tag", "count", "phyff_probe_record_total",
                     "r", "extra"}
    FFI().cdef(cdef)


def test_a_status_added_to_wire_h_reaches_a_compiled_module(extended_include: Path,
                                                           tmp_path: Path) -> None:
    """End to end, as the build does it: generate, compile with the real C
    (wire.c against the extended header), import, read the values from C."""
    cdef = _cdefgen.generate_cdef([extended_include / "phyff" / "wire.h"], [extended_include])
    module = _compile(cdef, "_phyff_cdefgen_probe", '#include "phyff/wire.h"\n',
                      ROOT / "shared" / "src" / "wire.c", extended_include, tmp_path)
    probe_ffi, probe_lib = module.ffi, module.lib
    assert probe_lib.PHYFF_ERR_CDEFGEN_PROBE == 99
    assert probe_lib.PHYFF_PROBE_RECORD_SIZE == 6
    assert probe_lib.PHYFF_ERR_NOT_A_REQUEST == lib.PHYFF_ERR_NOT_A_REQUEST
    record = probe_ffi.new("struct phyff_probe_record *", {"tag": 3, "count": 1000})
    assert probe_lib.phyff_probe_record_total(record, b"\x05" + bytes(5)) == 1008
    assert probe_ffi.string(probe_lib.phyff_status_name(99)).decode() == "unknown status"
    # The committed enums no longer match such headers: the test above fails
    # until `make enums` writes the new member.
    from phyff.protocol import _enumgen

    regenerated = _enumgen.render(probe_lib)
    assert "    CDEFGEN_PROBE = lib.PHYFF_ERR_CDEFGEN_PROBE\n" in regenerated
    assert regenerated != _enumgen.TARGET.read_text()


# ---- what the generator refuses, and how it says so ----------------------

def test_a_header_pycparser_cannot_read_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.h"
    bad.write_text("#include <stdint.h>\nstruct phyff_x { uint8_t a } ;\n")
    with pytest.raises(_cdefgen.CdefError, match="could not parse"):
        _cdefgen.generate_cdef([bad])


def test_an_unmodelled_system_header_names_the_fix(tmp_path: Path) -> None:
    h = tmp_path / "uses_string.h"
    h.write_text("#include <string.h>\nint phyff_y(void);\n")
    with pytest.raises(_cdefgen.CdefError, match="FAKE_HEADERS"):
        _cdefgen.generate_cdef([h])


def test_a_python_callback_must_be_declared(tmp_path: Path) -> None:
    h = tmp_path / "port.h"
    h.write_text("int phyff_z(int a);\n")
    assert 'extern "Python+C" int phyff_z(int a);' in _cdefgen.generate_cdef(
        [h], python_callbacks=["phyff_z"])
    with pytest.raises(_cdefgen.CdefError, match="phyff_missing"):
        _cdefgen.generate_cdef([h], python_callbacks=["phyff_missing"])


def test_only_integer_macros_become_constants(tmp_path: Path) -> None:
    h = tmp_path / "macros.h"
    h.write_text("""
#include <stdint.h>
enum phyff_e { PHYFF_E_A = 1 };
#define PHYFF_GUARD_H
#define PHYFF_TWICE(x) ((x) * 2)
#define PHYFF_INT (PHYFF_TWICE(3) + 1u)
#define PHYFF_CAST ((uint16_t)0x10)
#define PHYFF_FROM_ENUM (PHYFF_E_A << 2)
#define PHYFF_LIMIT INT16_MIN
#define PHYFF_TEXT "board"
#define PHYFF_RATIO 0.5
#define PHYFF_PTR ((void *)0)
""")
    cdef = _cdefgen.generate_cdef([h])
    constants = set(re.findall(r"#define (\w+) \.\.\.", cdef))
    assert constants == {"PHYFF_INT", "PHYFF_CAST", "PHYFF_FROM_ENUM", "PHYFF_LIMIT"}


_EDGE_HEADER = """
#include <stdint.h>
#include <stdbool.h>
typedef uint16_t phyff_len_t;
typedef struct { uint8_t a; phyff_len_t n[4]; } phyff_td_t;
typedef enum { PHYFF_TE_A = 2, PHYFF_TE_B } phyff_te_t;
enum { PHYFF_ANON_A = 7, PHYFF_ANON_B };
struct phyff_fwd;
struct phyff_bits { unsigned a : 3; unsigned b : 5; uint32_t c; };
struct phyff_flex { uint16_t n; uint8_t data[]; };
struct phyff_nest { int k; union { int i; float f; }; struct { uint8_t x[3]; } s; };
typedef int (*phyff_cb)(void *ctx, int n);
extern const char phyff_names[];
extern int phyff_counter;
#define PHYFF_LEN_CAST ((phyff_len_t)9)
int phyff_variadic(int n, ...);
bool phyff_flag(void);
static inline int phyff_two(const int a[static 4], int b[const]) { return a[3] + b[0]; }
"""

_EDGE_SOURCE = """
#include "edge.h"
const char phyff_names[] = "abc";
int phyff_counter = 5;
int phyff_variadic(int n, ...) { return n; }
bool phyff_flag(void) { return true; }
"""


def test_the_generator_covers_c_a_header_may_grow_into(tmp_path: Path) -> None:
    """Typedefs, nameless enums, bit-fields, flexible and nested members,
    globals, variadic and [static N] parameters: generated, compiled, used."""
    (tmp_path / "edge.h").write_text(_EDGE_HEADER)
    (tmp_path / "edge.c").write_text(_EDGE_SOURCE)
    cdef = _cdefgen.generate_cdef([tmp_path / "edge.h"])
    assert "/* not declared to cffi: a: bit-field */" in cdef
    module = _compile(cdef, "_phyff_cdefgen_edge", '#include "edge.h"\n', tmp_path / "edge.c",
                      tmp_path, tmp_path)
    e_ffi, e_lib = module.ffi, module.lib
    assert (e_lib.PHYFF_LEN_CAST, e_lib.PHYFF_TE_B, e_lib.PHYFF_ANON_B) == (9, 3, 8)
    assert e_ffi.offsetof("struct phyff_bits", "c") == 4
    assert e_ffi.typeof(e_ffi.new("struct phyff_flex *").data).cname == "uint8_t[]"
    nest = e_ffi.new("struct phyff_nest *")
    nest.i = 6
    nest.s.x[2] = 1
    assert (nest.i, nest.s.x[2], e_ffi.sizeof("phyff_td_t")) == (6, 1, 10)
    four = e_ffi.new("int[4]", [1, 2, 3, 4])
    assert e_lib.phyff_two(four, four) == 5
    assert (e_lib.phyff_variadic(3), e_lib.phyff_flag(), e_lib.phyff_counter) == (3, True, 5)
    assert e_ffi.string(e_lib.phyff_names) == b"abc"


def test_every_record_names_its_c_members() -> None:
    """A record's dataclass fields are its C struct's members (derived metadata stays true)."""
    from dataclasses import fields

    from phyff.protocol import medium_link, wire

    records = [obj for module in (wire, medium_link) for obj in vars(module).values()
               if isinstance(obj, type) and issubclass(obj, wire.Record) and obj is not wire.Record]
    assert len(records) >= 8
    for record in records:
        assert sorted(f.name for f in fields(record)) == sorted(record.c_members()), record
        assert record.size() == len(record.unpack(bytes(record.size())).pack())


def _compile(cdef: str, name: str, prelude: str, source: Path, include: Path,
             tmp_path: Path) -> Any:
    """Build a throw-away cffi module from a generated cdef and import it."""
    builder = FFI()
    builder.cdef(cdef)
    builder.set_source(name, prelude, sources=[str(source)], include_dirs=[str(include)],
                       extra_compile_args=["-std=c11"])
    so = builder.compile(tmpdir=str(tmp_path / "build"))
    spec = importlib.util.spec_from_file_location(name, so)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
