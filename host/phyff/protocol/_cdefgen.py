"""Generate the cffi ``cdef`` of ``phyff._native`` from the C headers.

Why this exists: cffi exposes only what its ``cdef`` declares. A cdef typed by
hand drifts from the headers, and the drift is silent: a status code added to
``wire.h`` but not to the cdef simply does not exist in Python. Here the
headers are the only source: they are run through the C preprocessor (the same
include paths and ``-D`` options as the build), parsed with pycparser (which
ships with cffi), and every declaration they make is turned into cdef text:

- every named struct and union, with all its fields, array lengths written
  ``[...]`` and a closing ``...;`` so the C compiler, not this text, decides
  sizes and offsets;
- every enum with its member names and a closing ``...``: the compiled module
  reads the values from C;
- every function prototype, ``static inline`` definitions included (cffi's API
  mode compiles a wrapper that calls them); array parameters become pointers,
  as C itself treats them;
- every object-like ``#define`` whose expansion is an integer constant
  expression, as ``#define NAME ...``;
- typedefs and global variables (``extern``) as declared.

What cannot be read from a header is passed in by the caller: the functions
that are implemented in Python (cffi ``extern "Python+C"``), whose prototype is
still taken from the header.

Pure build-time code with no phyff imports, so ``setup.py`` can load it by path
before the package exists. ``python3 _cdefgen.py -I dir -D NAME=VALUE header.h``
prints the cdef for a look.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from pycparser import c_ast, c_generator, c_parser

try:  # pycparser >= 2.x raises this from the parser; its home moved in 3.0
    from pycparser.c_parser import ParseError
except ImportError:  # pragma: no cover - depends on the installed pycparser
    from pycparser.plyparser import ParseError


class CdefError(Exception):
    """The headers could not be turned into a cdef; the message says what to fix."""


# Stand-ins for the freestanding system headers the project headers include.
# Preprocessing with these (and -nostdinc) keeps compiler extensions out of
# the text pycparser has to parse; the real build still uses the real
# headers. They only declare types cffi knows natively, so none of them needs
# to reach the cdef, and their values only matter for parsing.
FAKE_HEADERS: dict[str, str] = {
    "stddef.h": """
typedef unsigned long size_t;
typedef long ptrdiff_t;
typedef int wchar_t;
#define NULL ((void *)0)
#define offsetof(t, m) ((size_t)&(((t *)0)->m))
""",
    "stdint.h": """
typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef signed char int_least8_t;
typedef short int_least16_t;
typedef int int_least32_t;
typedef long long int_least64_t;
typedef unsigned char uint_least8_t;
typedef unsigned short uint_least16_t;
typedef unsigned int uint_least32_t;
typedef unsigned long long uint_least64_t;
typedef signed char int_fast8_t;
typedef long int_fast16_t;
typedef long int_fast32_t;
typedef long long int_fast64_t;
typedef unsigned char uint_fast8_t;
typedef unsigned long uint_fast16_t;
typedef unsigned long uint_fast32_t;
typedef unsigned long long uint_fast64_t;
typedef long intptr_t;
typedef unsigned long uintptr_t;
typedef long long intmax_t;
typedef unsigned long long uintmax_t;
#define INT8_MIN (-127 - 1)
#define INT16_MIN (-32767 - 1)
#define INT32_MIN (-2147483647 - 1)
#define INT64_MIN (-9223372036854775807LL - 1)
#define INT8_MAX 127
#define INT16_MAX 32767
#define INT32_MAX 2147483647
#define INT64_MAX 9223372036854775807LL
#define UINT8_MAX 255
#define UINT16_MAX 65535
#define UINT32_MAX 4294967295U
#define UINT64_MAX 18446744073709551615ULL
#define INTPTR_MIN (-9223372036854775807L - 1)
#define INTPTR_MAX 9223372036854775807L
#define UINTPTR_MAX 18446744073709551615UL
#define SIZE_MAX 18446744073709551615UL
#define INT8_C(c) c
#define INT16_C(c) c
#define INT32_C(c) c
#define INT64_C(c) c##LL
#define UINT8_C(c) c
#define UINT16_C(c) c
#define UINT32_C(c) c##U
#define UINT64_C(c) c##ULL
""",
    "stdbool.h": """
#define bool _Bool
#define true 1
#define false 0
#define __bool_true_false_are_defined 1
""",
    "limits.h": """
#define CHAR_BIT 8
#define SCHAR_MIN (-128)
#define SCHAR_MAX 127
#define UCHAR_MAX 255
#define CHAR_MIN SCHAR_MIN
#define CHAR_MAX SCHAR_MAX
#define SHRT_MIN (-32767 - 1)
#define SHRT_MAX 32767
#define USHRT_MAX 65535
#define INT_MIN (-2147483647 - 1)
#define INT_MAX 2147483647
#define UINT_MAX 4294967295U
#define LONG_MIN (-9223372036854775807L - 1)
#define LONG_MAX 9223372036854775807L
#define ULONG_MAX 18446744073709551615UL
""",
}

# Compiler extensions pycparser cannot parse, neutralised for the parse only
# (the compiled module sees them; partial structs take their layout from it).
_NEUTRALISE = [
    "__attribute__(x)=",
    "__extension__=",
    "__inline=inline",
    "__inline__=inline",
    "__restrict=restrict",
    "__restrict__=restrict",
    "__asm__(x)=",
]

_LINEMARKER = re.compile(r'^#\s*(?:line\s+)?(\d+)\s+"((?:[^"\\]|\\.)*)"')
_DEFINE = re.compile(r"^#define\s+([A-Za-z_]\w*)(\()?\s*(.*)$")
_UNDEF = re.compile(r"^#undef\s+([A-Za-z_]\w*)")
_PROBE = re.compile(r'"@cdefgen:(\w+)@"(.*?)"@cdefgen:end@"', re.S)
_CMDLINE = {"<command-line>", "<command line>"}  # gcc's and clang's names for -D
_INTEGER_WORDS = {"char", "short", "int", "long", "signed", "unsigned", "_Bool"}


def _compiler(cc: str | Sequence[str] | None) -> list[str]:
    """The C compiler command used as preprocessor: the build's (CC), else cc."""
    if cc is None:
        cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    argv = shlex.split(cc) if isinstance(cc, str) else list(cc)
    if not argv or shutil.which(argv[0]) is None:
        raise CdefError(
            f"no C compiler to preprocess the headers (tried {argv[:1] or cc!r}); "
            "install gcc or clang, or set CC to one")
    return argv


def _preprocess(argv: list[str], source: Path, flags: list[str]) -> str:
    cmd = [*argv, "-E", *flags, str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        hint = ""
        if "No such file" in proc.stderr:
            hint = ("\nThe cdef generator models only the system headers "
                    f"{sorted(FAKE_HEADERS)}; a header that includes another one "
                    "needs a stand-in added to FAKE_HEADERS in _cdefgen.py "
                    "(declaring only types cffi knows).")
        raise CdefError(f"preprocessing the headers failed:\n{proc.stderr.strip()}{hint}")
    return proc.stdout


def _is_integer_type(node: c_ast.Node, int_typedefs: set[str]) -> bool:
    if isinstance(node, c_ast.Typename):
        node = node.type
    if not isinstance(node, c_ast.TypeDecl):
        return False
    inner = node.type
    if isinstance(inner, c_ast.Enum):
        return True
    if not isinstance(inner, c_ast.IdentifierType):
        return False
    names = set(inner.names)
    return names <= _INTEGER_WORDS or (len(names) == 1 and names <= int_typedefs)


def _is_integer_constant(node: c_ast.Node, enum_names: set[str],
                         int_typedefs: set[str]) -> bool:
    """True when node is an integer constant expression (what cffi's
    ``#define NAME ...`` accepts)."""

    def ok(n: c_ast.Node | None) -> bool:
        if isinstance(n, c_ast.Constant):
            return n.type == "char" or n.type.endswith("int")
        if isinstance(n, c_ast.ID):
            return n.name in enum_names
        if isinstance(n, c_ast.UnaryOp):
            if n.op == "sizeof":
                return True
            return n.op in {"-", "+", "~", "!"} and ok(n.expr)
        if isinstance(n, c_ast.BinaryOp):
            return ok(n.left) and ok(n.right)
        if isinstance(n, c_ast.TernaryOp):
            return ok(n.cond) and ok(n.iftrue) and ok(n.iffalse)
        if isinstance(n, c_ast.Cast):
            return _is_integer_type(n.to_type, int_typedefs) and ok(n.expr)
        return False

    return ok(node)


class _Emitter:
    """Walks the parsed headers and renders cdef text, in header order."""

    def __init__(self, is_project: Callable[[str], bool], python_callbacks: set[str]) -> None:
        self.is_project = is_project
        self.python_callbacks = python_callbacks
        self.gen = c_generator.CGenerator()
        self.items: list[tuple[str, str]] = []  # (file, text)
        self.seen: set[str] = set()
        self.forward: dict[str, tuple[str, str]] = {}
        self.enum_names: set[str] = set()
        self.functions: set[str] = set()

    # ---- helpers ----------------------------------------------------------

    def _add(self, file: str, key: str, text: str) -> None:
        if key in self.seen:
            return
        self.seen.add(key)
        self.items.append((file, text))

    @staticmethod
    def _where(node: c_ast.Node) -> str:
        c = node.coord
        return f"{c.file}:{c.line}" if c is not None else "?"

    def _array_to_pointer(self, node: c_ast.Node) -> c_ast.Node:
        """A parameter declared as an array is a pointer (C11 6.7.6.3p7)."""
        if isinstance(node, c_ast.ArrayDecl):
            quals = [q for q in node.dim_quals or [] if q != "static"]  # [static N]: a hint
            return c_ast.PtrDecl(quals=quals, type=node.type, coord=node.coord)
        return node

    def _prototype(self, decl: c_ast.Decl) -> str:
        d = copy.deepcopy(decl)
        d.storage = []
        d.funcspec = []
        func = d.type
        if func.args is not None:
            for p in func.args.params:
                if isinstance(p, c_ast.Decl | c_ast.Typename):
                    p.type = self._array_to_pointer(p.type)
        text = self.gen.visit(d) + ";"
        if d.name in self.python_callbacks:
            text = 'extern "Python+C" ' + text
        return text

    def _fields(self, agg: c_ast.Struct | c_ast.Union, partial: bool,
                notes: list[str]) -> list[c_ast.Decl]:
        """The fields of agg, rewritten so cffi can take layout from the compiler.

        Partial (named) aggregates: outermost array lengths become ``...``.
        Nameless nested aggregates cannot be partial in cffi, so their arrays
        keep literal lengths; a field cffi cannot describe is left out (the
        enclosing partial struct still has the right size) and noted."""
        out = []
        for f in agg.decls or []:
            if not isinstance(f, c_ast.Decl):
                continue
            if f.bitsize is not None:
                # cffi takes a partial struct's offsets from offsetof(),
                # which a bit-field does not have.
                notes.append(f"{f.name}: bit-field")
                continue
            g = copy.deepcopy(f)
            t = g.type
            if isinstance(t, c_ast.ArrayDecl):
                inner = t.type
                while isinstance(inner, c_ast.ArrayDecl):
                    if not isinstance(inner.dim, c_ast.Constant):
                        notes.append(f"{f.name}: inner array length is not a literal")
                        break
                    inner = inner.type
                else:
                    if partial:
                        if t.dim is not None:  # a flexible array member stays []
                            t.dim = c_ast.ID("...")
                    elif t.dim is not None and not isinstance(t.dim, c_ast.Constant):
                        notes.append(f"{f.name or '(anonymous)'}: array length computed "
                                     "in a nameless aggregate")
                        continue
                    out.append(g)
                continue
            base = t.type if isinstance(t, c_ast.TypeDecl) else t
            if isinstance(base, c_ast.Struct | c_ast.Union) and base.decls is not None:
                nested_notes: list[str] = []
                base.decls = self._fields(base, partial=False, notes=nested_notes)
                if nested_notes:
                    notes.append(f"{f.name or '(anonymous)'}: " + "; ".join(nested_notes))
                    continue
            out.append(g)
        return out

    def _aggregate(self, agg: c_ast.Struct | c_ast.Union, keyword: str) -> str:
        notes: list[str] = []
        fields = self._fields(agg, partial=True, notes=notes)
        lines = [f"{keyword} {agg.name} {{" if agg.name else f"{keyword} {{"]
        lines += [self._field(f, "    ") for f in fields]
        lines.append("    ...;")
        lines.append("}")
        comment = "".join(f"/* not declared to cffi: {n} */\n" for n in notes)
        return comment + "\n".join(lines)

    def _field(self, f: c_ast.Decl, indent: str) -> str:
        """One field; nested nameless aggregates laid out like the header's."""
        base = f.type.type if isinstance(f.type, c_ast.TypeDecl) else f.type
        if isinstance(base, c_ast.Struct | c_ast.Union) and base.decls is not None:
            keyword = "struct" if isinstance(base, c_ast.Struct) else "union"
            head = f"{keyword} {base.name} {{" if base.name else f"{keyword} {{"
            inner = [self._field(g, indent + "    ") for g in base.decls]
            name = f" {f.name}" if f.name else ""
            return "\n".join([indent + head, *inner, f"{indent}}}{name};"])
        return indent + self.gen.visit(f) + ";"

    def _enum(self, enum: c_ast.Enum) -> str:
        names = [e.name for e in enum.values.enumerators]
        self.enum_names.update(names)
        head = f"enum {enum.name}" if enum.name else "enum"
        return f"{head} {{ {', '.join([*names, '...'])} }}"

    # ---- the walk ---------------------------------------------------------

    def walk(self, ast: c_ast.FileAST) -> None:
        for ext in ast.ext:
            file = ext.coord.file if ext.coord is not None else ""
            if not self.is_project(file):
                continue
            kind = type(ext).__name__
            if kind in {"StaticAssert", "Pragma"}:
                continue
            if isinstance(ext, c_ast.FuncDef):
                self._function(file, ext.decl)
            elif isinstance(ext, c_ast.Decl):
                self._decl(file, ext)
            elif isinstance(ext, c_ast.Typedef):
                self._typedef(file, ext)
            else:
                raise CdefError(f"{self._where(ext)}: the cdef generator does not know how "
                                f"to declare a {kind} to cffi; move it out of the public "
                                "headers or teach _cdefgen.py")

    def _function(self, file: str, decl: c_ast.Decl) -> None:
        self.functions.add(decl.name)
        self._add(file, "func " + decl.name, self._prototype(decl))

    def _decl(self, file: str, d: c_ast.Decl) -> None:
        t = d.type
        if isinstance(t, c_ast.FuncDecl):
            self._function(file, d)
            return
        if d.name is None:
            if isinstance(t, c_ast.Struct | c_ast.Union):
                keyword = "struct" if isinstance(t, c_ast.Struct) else "union"
                if t.decls is None:
                    self.forward.setdefault(f"{keyword} {t.name}",
                                            (file, f"{keyword} {t.name};"))
                else:
                    self._add(file, f"{keyword} {t.name}", self._aggregate(t, keyword) + ";")
                return
            if isinstance(t, c_ast.Enum) and t.values is not None:
                if t.name is None:
                    # cffi cannot complete a nameless enum; its members are
                    # integer constants, which it takes from the compiler.
                    for e in t.values.enumerators:
                        self.enum_names.add(e.name)
                        self._add(file, "const " + e.name, f"#define {e.name} ...")
                else:
                    self._add(file, f"enum {t.name}", self._enum(t) + ";")
                return
            raise CdefError(f"{self._where(d)}: a declaration without a name that is "
                            "not a struct, union or enum definition")
        # A global variable.
        inner = t
        while isinstance(inner, c_ast.PtrDecl | c_ast.ArrayDecl | c_ast.TypeDecl):
            inner = inner.type
        if isinstance(inner, c_ast.Struct | c_ast.Union | c_ast.Enum) and (
                getattr(inner, "decls", None) is not None
                or getattr(inner, "values", None) is not None):
            raise CdefError(f"{self._where(d)}: declare the type of {d.name!r} apart from "
                            "the variable, so cffi can see both")
        v = copy.deepcopy(d)
        v.storage = v.storage or ["extern"]  # what cffi expects of a global
        v.init = None
        if isinstance(v.type, c_ast.ArrayDecl) and v.type.dim is not None:
            v.type.dim = c_ast.ID("...")
        self._add(file, "var " + d.name, self.gen.visit(v) + ";")

    def _typedef(self, file: str, td: c_ast.Typedef) -> None:
        t = copy.deepcopy(td)
        base = t.type.type if isinstance(t.type, c_ast.TypeDecl) else None
        if isinstance(base, c_ast.Struct | c_ast.Union) and base.decls is not None:
            keyword = "struct" if isinstance(base, c_ast.Struct) else "union"
            body = self._aggregate(base, keyword)
            self._add(file, "typedef " + td.name, f"typedef {body} {td.name};")
            return
        if isinstance(base, c_ast.Enum) and base.values is not None:
            self._add(file, "typedef " + td.name, f"typedef {self._enum(base)} {td.name};")
            return
        self._add(file, "typedef " + td.name, self.gen.visit(t) + ";")

    def finish(self) -> None:
        for key, (file, text) in self.forward.items():
            self._add(file, key, text)


def generate_cdef(headers: Iterable[Path | str],
                  include_dirs: Iterable[Path | str] = (),
                  defines: Iterable[tuple[str, str | None]] = (),
                  *, python_callbacks: Iterable[str] = (),
                  std: str = "c11",
                  cc: str | Sequence[str] | None = None) -> str:
    """The cdef declaring everything ``headers`` declare, as cffi text.

    ``include_dirs`` and ``defines`` must be those of the build, so the
    headers are read as the compiler will read them (``#ifndef`` defaults,
    conditional declarations). ``defines`` given here also become
    ``#define NAME ...`` entries when they are integer constants: a header's
    ``#ifndef X / #define X default`` is then decided on the command line.
    ``python_callbacks`` names functions declared in the headers but
    implemented in Python (cffi ``extern "Python+C"``).
    """
    header_paths = [Path(h).resolve() for h in headers]
    for h in header_paths:
        if not h.is_file():
            raise CdefError(f"header {h} does not exist; check the header list of the build")
    defines = list(defines)
    callbacks = set(python_callbacks)
    argv = _compiler(cc)
    with tempfile.TemporaryDirectory(prefix="phyff-cdefgen-") as tmp_name:
        tmp = Path(tmp_name).resolve()
        fake = tmp / "include"
        fake.mkdir()
        for name, text in FAKE_HEADERS.items():
            guard = "CDEFGEN_FAKE_" + re.sub(r"\W", "_", name).upper()
            (fake / name).write_text(f"#ifndef {guard}\n#define {guard}\n{text}\n#endif\n")
        umbrella = tmp / "cdefgen_umbrella.c"
        includes = "".join(f'#include "{h.as_posix()}"\n' for h in header_paths)
        umbrella.write_text(includes)
        flags = [f"-std={std}", "-nostdinc", "-I", str(fake)]
        for d in include_dirs:
            flags += ["-I", str(d)]
        for name, value in defines:
            flags.append(f"-D{name}" if value is None else f"-D{name}={value}")
        flags += [f"-D{n}" for n in _NEUTRALISE]

        def is_project(file: str) -> bool:
            if not file or file.startswith("<"):
                return False
            p = Path(file)
            return p.resolve() != umbrella and fake not in p.resolve().parents

        # Pass 1: declarations, and where every macro was defined.
        text = _preprocess(argv, umbrella, [*flags, "-dD"])
        macros, decl_text = _split_macros(text, is_project, {n for n, _ in defines})
        try:
            ast = c_parser.CParser().parse(decl_text, str(umbrella))
        except ParseError as exc:
            raise CdefError(f"pycparser could not parse the preprocessed headers: {exc}. "
                            "Keep public headers to standard C11 declarations.") from exc
        emitter = _Emitter(is_project, callbacks)
        emitter.walk(ast)
        emitter.finish()
        missing = callbacks - emitter.functions
        if missing:
            raise CdefError(f"python_callbacks {sorted(missing)} are not declared in any "
                            "header; declare their prototype in the port header")

        # Pass 2: expand each macro, keep the integer constants.
        int_typedefs = _integer_typedefs(ast)
        constants = _integer_macros(argv, umbrella, flags, macros, emitter.enum_names,
                                    int_typedefs, tmp)

    return _assemble(emitter.items, constants)


def _split_macros(text: str, is_project: Callable[[str], bool],
                  cmdline: set[str]) -> tuple[dict[str, str], str]:
    """Macros defined by the project (name -> file), in definition order, and
    the text with every directive but line markers blanked (line numbers kept)."""
    macros: dict[str, str] = {}
    out = []
    current = ""
    for line in text.splitlines():
        m = _LINEMARKER.match(line)
        if m:
            current = m.group(2)
            out.append(f'# {m.group(1)} "{m.group(2)}"')
            continue
        if line.startswith("#"):
            d = _DEFINE.match(line)
            if d and d.group(2) is None and d.group(3).strip():
                name = d.group(1)
                if is_project(current) or (current in _CMDLINE and name in cmdline):
                    macros.pop(name, None)
                    macros[name] = current
                else:
                    macros.pop(name, None)
            elif d:
                macros.pop(d.group(1), None)
            u = _UNDEF.match(line)
            if u:
                macros.pop(u.group(1), None)
            out.append("")
            continue
        out.append(line)
    return macros, "\n".join(out) + "\n"


def _integer_typedefs(ast: c_ast.FileAST) -> set[str]:
    names: set[str] = set()
    for ext in ast.ext:
        if isinstance(ext, c_ast.Typedef) and _is_integer_type(ext.type, names):
            names.add(ext.name)
    return names


def _integer_macros(argv: list[str], umbrella: Path, flags: list[str],
                    macros: dict[str, str], enum_names: set[str],
                    int_typedefs: set[str], tmp: Path) -> dict[str, str]:
    """name -> file for the macros whose full expansion is an integer constant."""
    if not macros:
        return {}
    probe = tmp / "cdefgen_probe.c"
    probe.write_text(umbrella.read_text() + "".join(
        f'"@cdefgen:{name}@" {name} "@cdefgen:end@"\n' for name in macros))
    expanded = {m.group(1): " ".join(m.group(2).split())
                for m in _PROBE.finditer(_preprocess(argv, probe, [*flags, "-P"]))}
    parser = c_parser.CParser()
    prelude = "".join(f"typedef int {t};\n" for t in sorted(int_typedefs))
    bodies = {name: expanded[name] for name in macros if expanded.get(name)}

    def initialisers(names: list[str]) -> dict[str, c_ast.Node]:
        text = prelude + "".join(f"int cdefgen_{n} = ({bodies[n]});\n" for n in names)
        tu = parser.parse(text, "<probe>")
        return {e.name[len("cdefgen_"):]: e.init for e in tu.ext
                if isinstance(e, c_ast.Decl) and e.name.startswith("cdefgen_")}

    try:  # one parse for all (the usual case), else one per macro
        inits = initialisers(list(bodies))
    except ParseError:
        inits = {}
        for name in bodies:
            try:
                inits.update(initialisers([name]))
            except ParseError:
                continue  # not an expression at all (a keyword, a statement...)
    return {name: file for name, file in macros.items()
            if name in inits and _is_integer_constant(inits[name], enum_names, int_typedefs)}


def _assemble(items: list[tuple[str, str]], constants: dict[str, str]) -> str:
    """One text, a section per header in the order the compiler met them, each
    opening with that header's integer constants."""
    by_file: dict[str, list[str]] = {}
    for name, file in constants.items():
        by_file.setdefault(file, []).append(name)
    out = ["// Generated from the C headers by _cdefgen.py: do not edit."]
    current = None
    for file, text in items:
        if file != current:
            current = file
            out.append(f"\n// ---- {Path(file).name} ----")
            out += [f"#define {n} ..." for n in by_file.pop(file, [])]
        out.append(text)
    for file, names in by_file.items():
        label = "build options" if file.startswith("<") else Path(file).name
        out.append(f"\n// ---- {label} ----")
        out += [f"#define {n} ..." for n in names]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the cdef of some headers (for a look at what cffi will see)."""
    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("headers", nargs="+", type=Path)
    ap.add_argument("-I", dest="include_dirs", action="append", default=[], type=Path)
    ap.add_argument("-D", dest="defines", action="append", default=[])
    ap.add_argument("--python-callback", action="append", default=[])
    args = ap.parse_args(argv)
    defines = [(d.split("=", 1)[0], d.split("=", 1)[1] if "=" in d else None)
               for d in args.defines]
    try:
        sys.stdout.write(generate_cdef(args.headers, args.include_dirs, defines,
                                       python_callbacks=args.python_callback))
    except CdefError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
