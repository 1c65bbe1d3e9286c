#!/usr/bin/env python3
"""Fails when the top-level modules of the pulldoctor crate import each other in a circle.

The engine is a pipeline (docs/README.md): each stage may use the stages and the domain model
below it, never one above it. This script reads every `crate::…` path in
functions/pulldoctor-core/src and functions/pulldoctor/src, builds the graph between top-level modules, prints it, and exits 1
if the graph has a cycle (naming it) or an edge the layer list below forbids.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The pure core and the crate of the edges (AWS reads, deliveries, front doors): Cargo keeps the
# core from using the edges; this script keeps the stages of each in order.
SRCS = [ROOT / "functions/pulldoctor-core/src", ROOT / "functions/pulldoctor/src"]

# Lower layers first. A module may depend only on modules of a strictly lower layer.
LAYERS = [
    ["model"],
    ["policy", "aws"],
    ["intake", "checks"],
    # What a message is consistent with is said in the rules' terms (each rule's `explains`).
    ["classify"],
    ["collect", "rank", "report", "history"],
    ["judge", "snapshot"],
    ["engine", "notify"],
    ["preflight", "lambda"],
    ["cli"],
]

USE_GROUP = re.compile(r"crate::\{([^;]*?)\}", re.S)
USE_PATH = re.compile(r"crate::([a-z_][a-z0-9_]*)")


def top_module(path: pathlib.Path, src: pathlib.Path) -> str:
    rel = path.relative_to(src)
    return rel.parts[0].removesuffix(".rs")


def deps_of(text: str) -> set[str]:
    # Drop comments so doc links and prose do not count as imports.
    text = re.sub(r"//[^\n]*", "", text)
    found = set(USE_PATH.findall(text))
    for group in USE_GROUP.findall(text):
        for item in re.split(r",(?![^{]*\})", group):
            name = item.strip().split("::")[0].strip("{} \n")
            if re.fullmatch(r"[a-z_][a-z0-9_]*", name or ""):
                found.add(name)
    return found


# Test code: `#[cfg(test)]`, and the fixtures the tests of the crate above share.
TEST_CFG = r'#\[cfg\((?:test|any\(test, feature = "fixtures"\))\)\]'
TEST_MOD = re.compile(TEST_CFG + r"\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;")
TEST_BLOCK = re.compile(TEST_CFG + r"\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+[a-z_0-9]+\s*\{")


def without_tests(text: str) -> str:
    """The product code of a file: unit-test modules may use any stage (they test through it)."""
    while (m := TEST_BLOCK.search(text)) is not None:
        depth, i = 0, m.end() - 1
        for i in range(m.end() - 1, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                break
        text = text[: m.start()] + text[i + 1 :]
    return text


def test_only_files() -> set[pathlib.Path]:
    """Files declared with `#[cfg(test)] mod x;` (test fixtures and tables)."""
    found = set()
    for path in (p for src in SRCS for p in src.rglob("*.rs")):
        here = path.parent if path.name in ("mod.rs", "lib.rs") else path.with_suffix("")
        for name in TEST_MOD.findall(path.read_text()):
            found.update({here / f"{name}.rs", here / name / "mod.rs"})
    return found


def main() -> int:
    graph: dict[str, set[str]] = {}
    tests_only = test_only_files()
    for src, path in sorted((src, p) for src in SRCS for p in src.rglob("*.rs")):
        if path.parts[len(src.parts)] == "bin" or path in tests_only:
            continue
        top = top_module(path, src)
        if top == "lib":
            continue
        code = without_tests(path.read_text())
        graph.setdefault(top, set()).update(d for d in deps_of(code) if d != top)

    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    problems = []
    for module in sorted(graph):
        if module not in layer_of:
            problems.append(f"{module}: not in any layer of tests/tools/check-layers.py")
        print(f"{module:10} -> {', '.join(sorted(graph[module])) or '(nothing)'}")
    for module, deps in sorted(graph.items()):
        for dep in sorted(deps):
            if dep not in graph:
                continue
            if module in layer_of and dep in layer_of and layer_of[dep] >= layer_of[module]:
                problems.append(f"{module} -> {dep}: {dep} is not below {module}")

    # A cycle is reported even if the layer list were edited to allow it.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                problems.append("import circle: " + " -> ".join(cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)

    problems.extend(file_circles(tests_only))
    for p in problems:
        print("LAYERS:", p, file=sys.stderr)
    return 1 if problems else 0


def file_circles(tests_only: set[pathlib.Path]) -> list[str]:
    """Import circles between files (modules at any depth): a helper two files share lives below
    both, never in one of them. A module's own children are not counted as a circle with it."""
    files = {}
    for src in SRCS:
        for path in src.rglob("*.rs"):
            parts = list(path.relative_to(src).parts)
            if parts[0] == "bin" or path in tests_only:
                continue
            parts[-1] = parts[-1][:-3]
            if parts[-1] in ("mod", "lib"):
                parts = parts[:-1]
            files["::".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        text = re.sub(r"//[^\n]*", "", without_tests(path.read_text()))
        deps = set()
        for used in re.findall(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)", text):
            segments = used.split("::")
            for i in range(len(segments), 0, -1):
                if "::".join(segments[:i]) in files:
                    deps.add("::".join(segments[:i]))
                    break
        parent = module.split("::")[:-1]
        for name in re.findall(r"super::([a-z_][a-z0-9_]*)", text):
            if "::".join(parent + [name]) in files:
                deps.add("::".join(parent + [name]))
        graph[module] = {d for d in deps if d != module and not d.startswith(module + "::") and not module.startswith(d + "::")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append("import circle between files: " + ", ".join(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return circles


if __name__ == "__main__":
    sys.exit(main())
