#!/usr/bin/env python3
"""check_bindings.py - proves that the hand-written ctypes module mtop.py still matches mtop.h.

Three sources are compared, and every mismatch is reported by name (exit status 1):
  1. abi_dump (examples/python/abi_dump.c, compiled against mtop.h) prints every constant,
     struct size and field offset/size as key=value: the compiler's truth.
  2. mtop.h itself is scanned for its numeric MTOP_* constants, its mtop_* structs and fields
     and its MTOP_API functions, so that something added to the header but forgotten in
     abi_dump.c or in mtop.py fails here instead of going unnoticed.
  3. mtop.py: module constants (MTOP_X is mtop.X), ctypes.sizeof and Struct.field.offset/size
     of the classes in mtop.C_STRUCTS, the function names in mtop._API.
With --library it also loads libmtop through mtop.load(), which checks the version and that
every declared function exists.

Usage: check_bindings.py --dump PATH_TO_abi_dump --header mtop.h [--library libmtop.so]
"""

import argparse
import ctypes
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mtop  # noqa: E402


def read_dump(path: str) -> dict:
    out = subprocess.run([path], check=True, capture_output=True, text=True).stdout
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values[key] = int(value)
    return values


def strip_comments(text: str) -> str:
    return re.sub(r"/\*.*?\*/", " ", text, flags=re.S)


# Object-like MTOP_* macros that are not constants a binding copies.
NOT_CONSTANTS = {"MTOP_API"}


def header_constants(text: str) -> dict:
    """{name: value} of every `#define MTOP_X value` (value None when it is an expression
    this script does not evaluate: then only abi_dump's value is compared with mtop.py)."""
    found = {}
    for line in strip_comments(text).splitlines():
        m = re.match(r"\s*#\s*define\s+(MTOP_[A-Z0-9_]+)\s+(.+?)\s*$", line)
        if not m or m.group(1) in NOT_CONSTANTS:
            continue
        name, value = m.groups()
        num = re.fullmatch(r"\(?\s*(-?\d+)\s*\)?", value)
        if num:
            found[name] = int(num.group(1))
        else:
            found[name] = found.get(value)
    return found


def header_structs(text: str) -> dict:
    """{struct name: [field names]} of every `typedef struct mtop_x { ... } mtop_x;`."""
    structs = {}
    for m in re.finditer(r"typedef\s+struct\s+(mtop_\w+)\s*\{(.*?)\}\s*\1\s*;",
                         strip_comments(text), flags=re.S):
        fields = []
        for decl in m.group(2).split(";"):
            f = re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", decl.strip())
            if decl.strip() and f:
                fields.append(f.group(1))
        structs[m.group(1)] = fields
    return structs


def header_functions(text: str) -> set:
    """Names of the MTOP_API functions (preprocessor lines, i.e. the macros, left out)."""
    body = strip_comments(text)
    body = re.sub(r"^\s*#(?:[^\n]*\\\n)*[^\n]*", "", body, flags=re.M)
    # `MTOP_API int (name)(...)` is a function of the same name as a macro.
    return set(re.findall(r"MTOP_API\b[^;{]*?\(?\b(mtop_\w+)\)?\s*\(", body))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", required=True, help="the compiled abi_dump program")
    parser.add_argument("--header", required=True, help="bindings/c/include/mtop.h")
    parser.add_argument("--library", help="libmtop.so, to load through mtop.load()")
    args = parser.parse_args()

    dump = read_dump(args.dump)
    with open(args.header, encoding="utf-8") as f:
        text = f.read()
    problems = []

    # Constants: header == dump == mtop.py.
    constants = header_constants(text)
    for name, value in sorted(constants.items()):
        key = "const." + name
        if key not in dump:
            problems.append(f"{name}: in mtop.h but not printed by abi_dump.c")
            continue
        elif value is not None and dump[key] != value:
            problems.append(f"{name}: mtop.h says {value}, the compiler {dump[key]}")
        py = name[len("MTOP_"):]
        if not hasattr(mtop, py):
            problems.append(f"{name}: mtop.py has no {py}")
        elif getattr(mtop, py) != dump[key]:
            problems.append(f"{name}: mtop.py has {py} = {getattr(mtop, py)}, "
                            f"mtop.h {dump[key]}")
    for key in dump:
        if key.startswith("const.") and key[len("const."):] not in constants:
            problems.append(f"{key[len('const.'):]}: printed by abi_dump.c, not found in mtop.h")

    # Structs: header fields == dump fields == ctypes fields, with equal sizes and offsets.
    structs = header_structs(text)
    for name, fields in sorted(structs.items()):
        if f"sizeof.{name}" not in dump:
            problems.append(f"struct {name}: not printed by abi_dump.c")
            continue
        cls = mtop.C_STRUCTS.get(name)
        if cls is None:
            problems.append(f"struct {name}: no ctypes class in mtop.C_STRUCTS")
            continue
        if ctypes.sizeof(cls) != dump[f"sizeof.{name}"]:
            problems.append(f"struct {name}: sizeof is {dump[f'sizeof.{name}']} in C, "
                            f"{ctypes.sizeof(cls)} in mtop.py ({cls.__name__})")
        py_fields = [f[0] for f in cls._fields_]
        if py_fields != fields:
            problems.append(f"struct {name}: fields {fields} in mtop.h, {py_fields} in mtop.py")
        for field in fields:
            off = dump.get(f"offsetof.{name}.{field}")
            size = dump.get(f"fieldsize.{name}.{field}")
            if off is None:
                problems.append(f"{name}.{field}: not printed by abi_dump.c")
                continue
            desc = getattr(cls, field, None)
            if desc is None:
                continue  # reported with the field list above
            if desc.offset != off:
                problems.append(f"{name}.{field}: offset {off} in C, {desc.offset} in mtop.py")
            if desc.size != size:
                problems.append(f"{name}.{field}: size {size} in C, {desc.size} in mtop.py")
    for name in mtop.C_STRUCTS:
        if name not in structs:
            problems.append(f"struct {name}: in mtop.C_STRUCTS, not in mtop.h")

    # Functions: every exported function is declared to ctypes, and nothing else is.
    functions = header_functions(text)
    declared = {name for name, _, _ in mtop._API}
    for name in sorted(functions - declared):
        problems.append(f"{name}: in mtop.h, not declared in mtop._API")
    for name in sorted(declared - functions):
        problems.append(f"{name}: declared in mtop._API, not an MTOP_API function of mtop.h")

    # The version guard: another PATCH or a newer MINOR is fine, another MAJOR or an older MINOR
    # is refused.
    major, minor, patch = (int(p) for p in mtop.BINDING_VERSION.split("."))
    cases = [(f"{major}.{minor}.{patch + 1}", True), (f"{major}.{minor + 1}.0", True),
             (f"{major + 1}.{minor}.{patch}", False), ("garbage", False)]
    if minor > 0:
        cases.append((f"{major}.{minor - 1}.{patch}", False))
    for other, ok in cases:
        try:
            mtop.check_version(other)
            accepted = True
        except mtop.MtopVersionError:
            accepted = False
        if accepted != ok:
            problems.append(f"check_version({other!r}) {'accepted' if accepted else 'refused'} "
                            f"it against {mtop.BINDING_VERSION}")
    if args.library:
        try:
            lib = mtop.load(args.library)
            print(f"libmtop {lib.version()} loaded; BINDING_VERSION {mtop.BINDING_VERSION}")
        except mtop.MtopVersionError as e:
            problems.append(f"mtop.load: {e}")

    for p in problems:
        print("MISMATCH " + p)
    print(f"checked {len(constants)} constants, {len(structs)} structs "
          f"({sum(len(f) for f in structs.values())} fields), {len(functions)} functions: "
          f"{len(problems)} mismatch(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
