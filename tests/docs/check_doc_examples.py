#!/usr/bin/env python3
"""check_doc_examples.py - the code blocks of a Markdown guide are the text of example files.

A fenced code block that follows a marker comment must equal what the marker names:

  <!-- example: examples/cpp/embed_server.cpp -->               the whole file
  <!-- example: examples/c/embed_server.c lines 37-66 -->       lines 37 to 66 (1-based, inclusive)
  <!-- example: examples/cpp/embed_server.cpp region server --> the lines between the two lines
                                                                 that contain "[doc:server]"

Paths are relative to --root (the source tree). Every ```c, ```cpp and ```python block must be
marked, so no uncompiled code creeps into the guide. Exit status 1 on any difference, with a
diff; 0 otherwise. --self-test also alters each marked block in turn and fails unless every
alteration is caught (the check checks itself).

Usage: check_doc_examples.py --root DIR DOC.md [--self-test]
"""

import argparse
import difflib
import os
import re
import sys

MARKER = re.compile(r"^<!--\s*example:\s*(\S+)"
                    r"(?:\s+lines\s+(\d+)-(\d+)|\s+region\s+([\w-]+))?\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)\s*$")
CHECKED_LANGUAGES = {"c", "cpp", "c++", "python"}


def blocks(lines):
    """Yields (marker line number or None, marker match, fence line number, language, text)."""
    i, pending = 0, None
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            pending = (i + 1, m)
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            start = i
            fence = f.group(1)
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() != fence:
                body.append(lines[i])
                i += 1
            at, marker = pending if pending else (None, None)
            yield at, marker, start + 1, f.group(2).lower(), body
            pending = None
        elif lines[i].strip() and pending:
            raise SystemExit(f"line {pending[0]}: an example marker not followed by a code block")
        i += 1


def expected_text(root, marker):
    path, first, last, region = marker.group(1), marker.group(2), marker.group(3), marker.group(4)
    full = os.path.join(root, path)
    try:
        with open(full, encoding="utf-8") as f:
            src = f.read().split("\n")
    except OSError as e:
        return None, f"{path}: {e.strerror}"
    if src and src[-1] == "":
        src.pop()
    if first:
        a, b = int(first), int(last)
        if not 1 <= a <= b <= len(src):
            return None, f"{path} has {len(src)} lines, not {a}-{b}"
        return src[a - 1:b], None
    if region:
        tag = f"[doc:{region}]"
        at = [n for n, line in enumerate(src) if tag in line]
        if len(at) != 2:
            return None, f"{path}: {tag} found {len(at)} times, not twice"
        return src[at[0] + 1:at[1]], None
    return src, None


def check(root, doc_lines, quiet=False):
    problems = 0
    marked = 0
    for at, marker, fence_line, lang, body in blocks(doc_lines):
        if marker is None:
            if lang in CHECKED_LANGUAGES:
                problems += 1
                if not quiet:
                    print(f"line {fence_line}: a ```{lang} block without an example marker")
            continue
        marked += 1
        want, error = expected_text(root, marker)
        if error:
            problems += 1
            if not quiet:
                print(f"line {at}: {error}")
            continue
        if body != want:
            problems += 1
            if not quiet:
                print(f"line {at}: the block differs from {marker.group(0)[4:-3].strip()}:")
                sys.stdout.writelines(l + "\n" for l in difflib.unified_diff(
                    want, body, "file", "doc", lineterm="", n=1))
    return problems, marked


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("doc")
    p.add_argument("--self-test", action="store_true")
    args = p.parse_args()
    with open(args.doc, encoding="utf-8") as f:
        lines = f.read().split("\n")

    problems, marked = check(args.root, lines)
    if marked == 0:
        print(f"{args.doc}: no example markers at all")
        return 1
    if problems:
        print(f"{args.doc}: {problems} block(s) out of step with the examples")
        return 1
    print(f"{args.doc}: {marked} example block(s) match their files")
    if not args.self_test:
        return 0

    # Each marked block altered in three ways (a changed line, a dropped line, an added line):
    # every alteration must be reported.
    missed = 0
    fences = [(at, fl, body) for at, m, fl, _, body in blocks(lines) if m is not None]
    for at, fence_line, body in fences:
        first, last = fence_line, fence_line + len(body)  # body lines: doc[first .. last-1]
        variants = [
            lines[:first] + [lines[first] + " // drift"] + lines[first + 1:],
            lines[:last - 1] + lines[last:],
            lines[:last] + ["extra"] + lines[last:],
        ]
        for v in variants:
            if check(args.root, v, quiet=True)[0] == 0:
                print(f"self-test: an alteration of the block at line {at} went unnoticed")
                missed += 1
    if missed:
        return 1
    print(f"self-test: {3 * len(fences)} alterations of {len(fences)} block(s) all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
