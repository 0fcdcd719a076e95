#!/usr/bin/env python3
"""Trims Azure Service Operator v2's generated controller registry to a few API groups.

ASO registers every resource type it knows in internal/controllers/controller_resources_gen.go;
compiling all of them takes ~6 GB and ~9 minutes on 2 cores and gives a 500 MiB binary. The
side-by-side benchmark needs `network` and `resources` only. This script writes a copy of that
file that keeps only those groups (for `go build -overlay`, so ASO's source is not edited):

    aso-trim.py <controller_resources_gen.go> <output.go> network resources

Statements that reference another group's import are dropped, then functions that do, then
imports nothing uses any more.
"""

import re
import sys


def split_imports(text):
    start = text.index("import (\n")
    end = text.index("\n)\n", start)
    return text[:start], text[start + len("import (\n"):end].split("\n"), text[end + len("\n)\n"):]


def import_name(line):
    parts = line.strip().split()
    if len(parts) == 2:
        return parts[0], parts[1].strip('"')
    path = parts[0].strip('"')
    return path.rsplit("/", 1)[-1], path


def statements(body_lines):
    """Groups a function body's lines into top-level statements (one tab of indent)."""
    out, cur, depth = [], [], 0
    for line in body_lines:
        cur.append(line)
        depth += line.count("{") + line.count("(") - line.count("}") - line.count(")")
        if depth <= 0:
            out.append(cur)
            cur, depth = [], 0
    if cur:
        out.append(cur)
    return out


def main():
    src, dst, *keep = sys.argv[1:]
    text = open(src).read()
    head, imports, rest = split_imports(text)
    dropped = set()
    kept_imports = []
    for line in imports:
        if not line.strip():
            continue
        name, path = import_name(line)
        if "/v2/api/" in path:
            group = path.split("/v2/api/", 1)[1].split("/", 1)[0]
            if group not in keep:
                dropped.add(name)
                continue
        kept_imports.append((name, line))
    uses = re.compile(r"\b(" + "|".join(sorted(map(re.escape, dropped), key=len, reverse=True)) + r")\.")

    # Split the rest into top-level chunks: each function with the comment lines before it.
    chunks, cur = [], []
    for line in rest.split("\n"):
        if (line.startswith("func ") or line.startswith("//")) and cur and not cur[-1].startswith("//"):
            chunks.append(cur)
            cur = []
        cur.append(line)
    chunks.append(cur)

    out_chunks = []
    for chunk in chunks:
        func_line = next((i for i, l in enumerate(chunk) if l.startswith("func ")), None)
        if func_line is None:
            out_chunks.append(chunk)
            continue
        # Body: lines after the signature up to the closing brace at column 0.
        close = max(i for i, l in enumerate(chunk) if l == "}")
        body = chunk[func_line + 1:close]
        kept_body = []
        for st in statements(body):
            if uses.search("\n".join(st)):
                continue
            kept_body.append(st)
        new_chunk = chunk[: func_line + 1] + [l for st in kept_body for l in st] + chunk[close:]
        if uses.search("\n".join(new_chunk)):
            # A helper (an index function) of a dropped group: drop it whole.
            continue
        out_chunks.append(new_chunk)
    body = "\n".join("\n".join(c) for c in out_chunks)
    final_imports = [line for name, line in kept_imports if name == "_" or re.search(r"\b" + re.escape(name) + r"\.", body)]
    open(dst, "w").write(head + "import (\n" + "\n".join(final_imports) + "\n)\n" + body)
    print(f"kept {len(final_imports)} imports, dropped {len(dropped)} group packages", file=sys.stderr)


if __name__ == "__main__":
    main()
