#!/usr/bin/env python3
"""No module cycles inside any crate: the module graph, drawn from the code's
own paths, must be a DAG.

A module is a file (`lib.rs`/`main.rs` the root, `a/mod.rs` or `a.rs` is `a`,
`a/b.rs` is `a::b`). Module M depends on N when M's code names a path into
N: `crate::n::…` (also inside `use crate::{…}` groups), `super::…`, or a
child declared with `mod n;` used as `n::…`. Re-exports (`pub use`) are
not uses. Inline `#[cfg(test)] mod tests`
blocks are left out: they only ever look up at the code they test.

    python3 .ci/acyclic.py crates/*/src     # exit 1 and print each cycle found
"""
import re
import sys
from pathlib import Path


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_tests_and_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    # A `pub use` re-export is a facade for the crate's users, not a use by
    # the module that writes it.
    text = re.sub(r"^\s*pub(?:\([^)]*\))?\s+use\s[^;]*;", "", text, flags=re.M)
    # Drop an inline test module: from `#[cfg(test)] mod x {` to the end of the file
    # (test modules are written last, as rustfmt and this project keep them).
    m = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: m.start()] if m else text


def expand_use_groups(text: str):
    """Yields every `crate::a::b` path, with `use crate::{a::b, c::{d, e}}` expanded."""
    for m in re.finditer(r"\bcrate::((?:\w+::)*)(\{)?", text):
        prefix = m.group(1)
        if not m.group(2):
            rest = re.match(r"\w+", text[m.end():])
            yield prefix + (rest.group(0) if rest else "")
            continue
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        inner = text[m.end(): i - 1]
        for item in re.split(r",(?![^{]*\})", inner):
            item = item.strip()
            if item:
                for sub in expand_use_groups("crate::" + prefix + item):
                    yield sub


def crate_graph(src: Path):
    files = [f for f in src.rglob("*.rs")]
    modules = {module_of(src, f): f for f in files}
    edges = {m: set() for m in modules}

    def owner(path: tuple):
        while path and path not in modules:
            path = path[:-1]
        return path

    for module, file in modules.items():
        text = strip_tests_and_comments(file.read_text())
        targets = set()
        for path in expand_use_groups(text):
            targets.add(owner(tuple(p for p in path.split("::") if p and p != "self")))
        if module:
            parent = module[:-1]
            for m in re.finditer(r"\bsuper::((?:\w+::)*\w+)", text):
                targets.add(owner(parent + tuple(m.group(1).split("::"))))
        for child in re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M):
            if re.search(r"(?<![:\w])" + child + r"::", text):
                targets.add(module + (child,))
        edges[module] = {t for t in targets if t != module and t in modules}
    return edges


def cycles(edges):
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def name(module):
    return "crate" + "".join("::" + p for p in module)


def main(dirs):
    bad = 0
    for d in dirs:
        src = Path(d)
        crate = src.parent.name
        edges = crate_graph(src)
        found = cycles(edges)
        n_edges = sum(len(v) for v in edges.values())
        if found:
            bad += 1
            print(f"{crate}: {len(found)} module cycle(s) among {len(edges)} modules:")
            for c in found:
                print("  " + " -> ".join(name(m) for m in c))
        else:
            print(f"{crate}: no module cycle ({len(edges)} modules, {n_edges} dependencies)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
