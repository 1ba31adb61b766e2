"""Mutation testing for recstate: does the suite notice when the code is wrong?

    python3 dev.py mutate [MODULE ...] [--sample N] [--jobs J] [--again] [--list]

A small runner of our own rather than mutmut or cosmic-ray: mutmut 3 runs the tests against a
copy under ``mutants/`` that an editable install bypasses, and cosmic-ray wants a session
database and a config per module. This one is a few hundred lines we can read:

* mutants come from the module's AST (operators, comparisons, boolean logic, constants, negated
  conditions, ``return None``, removed calls), each applied as a text replacement of the node's
  own span, so every other line keeps its number;
* each mutant runs only the tests that cover its lines (per-test line coverage, recorded by
  pytest-cov with ``--cov-context=test``), stopping at the first failure; a run over the time
  limit counts as killed (the mutant hung the suite);
* that coverage is cached in ``.mutation-coverage.json``, per test file, under a digest of the
  package, the test helpers and the file: a new test only re-records its own file, an edit to
  the package re-records everything (``--fresh-coverage`` forces it);
* each worker mutates its own copy of the tree, so the working tree is never touched; its
  pytest loads ``tools/mutation_profile.py``, so hypothesis does not shrink a killing example;
* ``--tests GLOB ...`` records coverage for, and runs mutants against, those test files only: a
  quicker run on a loaded machine, whose score can only be lower than the whole suite's;
* results go to ``bench/mutation/<module>.json``; ``bench/MUTATION.md`` is rendered from all of
  them, so a run over one module keeps the others' rows;
* mutants that cannot change behaviour are listed, with the reason, in
  ``tools/mutation_equivalent.toml`` (matched by the line's text and the mutation, so they
  survive edits elsewhere in the file).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "mutation"
REPORT = ROOT / "bench" / "MUTATION.md"
EQUIVALENT = ROOT / "tools" / "mutation_equivalent.toml"
DEFAULT_MODULES = (
    "recstate/machines/*.py",
    "recstate/runtime.py",
    "recstate/effects.py",
    "recstate/routing.py",
    "recstate/scheduling.py",
    "recstate/driver.py",
    "recstate/timers.py",
    "recstate/trace.py",
    "recstate/machine.py",
)
# Seconds a mutant's tests may take before the mutant counts as hanging them (killed): a few
# times what they take on a loaded 2-core machine (the whole suite: 20 s idle, 100 s loaded).
TIMEOUT = 90.0
TIMEOUT_WHOLE_SUITE = 600.0
#: --slower: TIMEOUT times this (a machine shared with other work runs the same tests slower)
SLOWER = 1.0

BINOP_SWAP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr, ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.Pow: ast.Mult,
}
CMP_SWAP: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    module: str  # path relative to the project root
    line: int
    end_line: int
    code: str  # the original first line, stripped (how equivalents are matched)
    mutation: str  # what changed, e.g. "< -> <="
    source: str  # the whole mutated module
    at_import: bool = False  # runs when the module is imported (module level, class bodies)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.module, self.code, self.mutation)


@dataclass
class Result:
    line: int
    code: str
    mutation: str
    outcome: str  # killed | timeout | survived | uncovered | equivalent
    tests: int = 0
    seconds: float = 0.0
    why: str = ""


@dataclass
class ModuleResult:
    module: str
    total: int  # mutants the module has
    sampled: int
    results: list[Result] = field(default_factory=list)
    digest: str = ""  # of the module's source, so that --again knows its mutants are the same
    #: the test files the mutants ran against (--tests; with --again, the earlier runs' too);
    #: empty: the whole suite
    tests: list[str] = field(default_factory=list)


# ---- making mutants --------------------------------------------------------------------------
class _Spans:
    """Converts (line, column) positions to offsets in the module's text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0]
        for line in text.splitlines(keepends=True):
            self.starts.append(self.starts[-1] + len(line.encode()))
        self.raw = text.encode()

    def replace(self, node: ast.AST, new: str) -> str:
        a = self.starts[node.lineno - 1] + node.col_offset  # type: ignore[attr-defined]
        b = self.starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[attr-defined]
        return (self.raw[:a] + new.encode() + self.raw[b:]).decode()


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes not worth mutating: annotations, docstrings, f-strings, TYPE_CHECKING."""
    skip: set[int] = set()

    def all_of(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.arg):
            all_of(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            all_of(node.returns)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            for deco in node.decorator_list:  # attrs options, @event(...): declarations
                all_of(deco)
        elif isinstance(node, ast.JoinedStr) or (
                isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
            all_of(node)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                all_of(body[0])
    return skip


def _alternatives(node: ast.AST) -> Iterator[tuple[str, str]]:
    """(description, replacement text) for each mutation of one node."""
    if isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAP:
        new = copy.copy(node)
        new.op = BINOP_SWAP[type(node.op)]()
        yield f"{_op(node.op)} -> {_op(new.op)}", f"({ast.unparse(new)})"
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in CMP_SWAP:
                ops = list(node.ops)
                ops[i] = CMP_SWAP[type(op)]()
                new_cmp = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                yield f"{_op(op)} -> {_op(ops[i])}", f"({ast.unparse(new_cmp)})"
    elif isinstance(node, ast.BoolOp):
        new_bool = ast.BoolOp(op=ast.Or() if isinstance(node.op, ast.And) else ast.And(),
                              values=node.values)
        yield f"{_op(node.op)} -> {_op(new_bool.op)}", f"({ast.unparse(new_bool)})"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not x -> x", f"({ast.unparse(node.operand)})"
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield f"{value} -> {not value}", str(not value)
        elif isinstance(value, int):
            yield f"{value} -> {value + 1}", str(value + 1)
        elif isinstance(value, float):
            yield f"{value} -> {value + 1}", repr(value + 1)
    elif isinstance(node, ast.AugAssign) and type(node.op) in (ast.Add, ast.Sub):
        new_aug = copy.copy(node)
        new_aug.op = ast.Sub() if isinstance(node.op, ast.Add) else ast.Add()
        yield f"{_op(node.op)}= -> {_op(new_aug.op)}=", ast.unparse(new_aug)
    elif isinstance(node, ast.Return) and node.value is not None:
        if not isinstance(node.value, ast.Constant):  # constants mutate on their own
            yield "return x -> return None", "return None"
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await):
        yield "call removed", "pass"


def _conditions(node: ast.AST) -> Iterator[ast.expr]:
    """Tests worth negating as a whole (a plain name or call; compares flip on their own)."""
    if isinstance(node, ast.If | ast.While | ast.IfExp):
        test = node.test
        if not isinstance(test, ast.Compare | ast.BoolOp | ast.UnaryOp):
            yield test


def _op(op: ast.AST) -> str:
    symbols = {
        ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
        ast.Mod: "%", ast.BitOr: "|", ast.BitAnd: "&", ast.LShift: "<<", ast.RShift: ">>",
        ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
        ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
        ast.And: "and", ast.Or: "or",
    }
    return symbols[type(op)]


def mutants_of(module: str) -> list[Mutant]:
    text = (ROOT / module).read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    skip = _skipped_nodes(tree)
    functions = [f for f in ast.walk(tree)
                 if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    # an argument's default is evaluated where the function is defined (at import for one at
    # module level or in a class body), not when it runs: the def line's coverage has no test
    defaults = {id(n) for f in functions if not isinstance(f, ast.Lambda)
                for d in (*f.args.defaults, *f.args.kw_defaults) if d is not None
                for n in ast.walk(d)}
    in_functions = {id(n) for f in functions for n in ast.walk(f)} - defaults
    spans = _Spans(text)
    found: list[Mutant] = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        line_text = lines[node.lineno - 1]
        if "pragma: no mutate" in line_text:
            continue
        changes = list(_alternatives(node))
        for description, replacement in changes:
            found.append(_mutant(module, node, line_text, description,
                                 spans.replace(node, replacement), id(node) not in in_functions))
        for test in _conditions(node):
            if id(test) not in skip:
                found.append(_mutant(module, test, lines[test.lineno - 1], "condition negated",
                                     spans.replace(test, f"(not ({ast.unparse(test)}))")))
    found.sort(key=lambda m: (m.line, m.mutation))
    return [m for m in found if _compiles(m)]


def _mutant(module: str, node: ast.AST, line_text: str, what: str, source: str,
            at_import: bool = False) -> Mutant:
    return Mutant(module, node.lineno, node.end_lineno or node.lineno,  # type: ignore[attr-defined]
                  line_text.strip(), what, source, at_import)


def _compiles(m: Mutant) -> bool:
    try:
        compile(m.source, m.module, "exec")
    except SyntaxError:
        return False
    return True


def even_sample(items: list[Mutant], n: int | None) -> list[Mutant]:
    if n is None or len(items) <= n:
        return items
    return [items[(i * len(items)) // n] for i in range(n)]


# ---- which tests cover what --------------------------------------------------------------------
EVERY_TEST = "*"  # a line run at import time (module level, class bodies): every test
#: --tests: the test files coverage is recorded for and mutants run against (None: all)
SELECTED: list[str] | None = None


COVERAGE_CACHE = ROOT / ".mutation-coverage.json"


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _coverage_keys() -> dict[str, str]:
    """Per test file, a digest of what its coverage depends on: the package (every file, since
    a line number moves with any edit), the test helpers (conftest and friends), pyproject.toml
    and the test file itself. A test file whose key is unchanged keeps its cached coverage."""
    package = sorted(p for p in (ROOT / "recstate").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    helpers = sorted(p for p in (ROOT / "tests").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts
                     and not p.name.startswith("test_"))
    common = _digest([*package, *helpers, ROOT / "pyproject.toml"])
    return {str(p.relative_to(ROOT)): _digest([p]) + common
            for p in sorted((ROOT / "tests").rglob("test_*.py"))}


def _record(python: str, files: list[str]) -> dict[str, dict[str, dict[int, set[str]]]]:
    """Per test file, per module, per line, the test node ids of ``files`` that run it. The
    data file lives in a directory of its own: coverage's combine step deletes every
    ``<data file>.*`` beside it, which in the project root took the cache
    (``.mutation-coverage.json``) with it, and a run beside another took the other's data."""
    with tempfile.TemporaryDirectory(prefix="recstate-coverage-") as tmp:
        return _record_in(python, files, Path(tmp) / "coverage")


def _record_in(python: str, files: list[str], data_file: Path,
               ) -> dict[str, dict[str, dict[int, set[str]]]]:
    subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cov=recstate",
         "--cov-context=test", "--cov-report=", "-x", *files],
        cwd=ROOT, check=True, env={**os.environ, "COVERAGE_FILE": str(data_file)},
    )
    import coverage  # only the mutation extra has it

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    out: dict[str, dict[str, dict[int, set[str]]]] = {f: {} for f in files}
    for path in data.measured_files():
        rel = str(Path(path).resolve().relative_to(ROOT))
        for line, contexts in data.contexts_by_lineno(path).items():
            for context in contexts:
                test = context.rsplit("|", 1)[0] if context else EVERY_TEST
                # an import-time line (no test context) is kept under every file recorded
                owners = [test.split("::")[0]] if test != EVERY_TEST else files
                for owner in owners:
                    if owner in out:
                        out[owner].setdefault(rel, {}).setdefault(line, set()).add(test)
    data_file.unlink(missing_ok=True)
    return out


def coverage_map(python: str, *, fresh: bool = False, only: list[str] | None = None,
                 ) -> dict[str, dict[int, set[str]]]:
    """Per module, per line, the test node ids that run it. Recorded with pytest-cov, cached in
    ``.mutation-coverage.json`` per test file: only the test files whose key changed (or all of
    them, when the package changed) are run again. ``only``: these test files alone (--tests);
    the cache keeps the others' entries."""
    keys = _coverage_keys()
    if only is not None:
        keys = {f: key for f, key in keys.items() if f in only}
    cached: dict[str, dict[str, object]] = {}
    if COVERAGE_CACHE.exists() and not fresh:
        cached = json.loads(COVERAGE_CACHE.read_text())
    stale = [f for f, key in keys.items() if cached.get(f, {}).get("key") != key]
    per_file: dict[str, dict[str, dict[int, set[str]]]] = {}
    for f in keys:
        if f not in stale:
            lines = cached[f]["lines"]
            assert isinstance(lines, dict)
            per_file[f] = {module: {int(n): set(tests) for n, tests in by_line.items()}
                           for module, by_line in lines.items()}
    if stale:
        print(f"+ recording per-test coverage of {len(stale)} test file(s) "
              f"({len(keys) - len(stale)} cached)", flush=True)
        per_file.update(_record(python, stale))
        COVERAGE_CACHE.write_text(json.dumps({**cached, **{
            f: {"key": keys[f], "lines": {module: {str(n): sorted(tests)
                                                   for n, tests in by_line.items()}
                                          for module, by_line in per_file[f].items()}}
            for f in keys}}))
    else:
        print(f"+ per-test coverage: all {len(keys)} test files cached", flush=True)
    out: dict[str, dict[int, set[str]]] = {}
    for modules in per_file.values():
        for module, by_line in modules.items():
            for line, tests in by_line.items():
                out.setdefault(module, {}).setdefault(line, set()).update(tests)
    return out


# ---- running ---------------------------------------------------------------------------------
def _copy_tree(dest: Path) -> Path:
    ignore = shutil.ignore_patterns(".venv", ".git", "bench", "__pycache__", ".hypothesis",
                                    "*.db", ".mutation-coverage*")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _ordered(module: str, tests: set[str], rank: dict[str, int] | None = None) -> list[str]:
    """The tests to run, most likely killers first (``-x`` stops at the first failure): those
    of a test file named after the module, then the files that run most of the module's lines
    (``rank``: lines covered, per test file); every test file when the line runs at import
    time."""
    stem = Path(module).stem
    rank = rank or {}

    def key(test: str) -> tuple[bool, int, str]:
        f = test.split("::")[0]
        return (stem not in Path(f).name, -rank.get(f, 0), test)

    if EVERY_TEST in tests:
        files = SELECTED or [str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")]
        return sorted(files, key=key)
    return sorted(tests, key=key)


def run_mutant(python: str, tree: Path, m: Mutant, tests: set[str],
               rank: dict[str, int] | None = None) -> Result:
    if not tests:
        return Result(m.line, m.code, m.mutation, "uncovered")
    target = tree / m.module
    original = target.read_text()
    target.write_text(m.source)
    started = time.monotonic()
    try:
        proc = subprocess.run(  # noqa: S603
            [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
             "-p", "mutation_profile", *_ordered(m.module, tests, rank)],
            cwd=tree, env={**os.environ, "PYTHONHASHSEED": "0",
                           "PYTHONPATH": os.pathsep.join((str(tree), str(tree / "tools")))},
            capture_output=True, check=False,
            timeout=TIMEOUT_WHOLE_SUITE if EVERY_TEST in tests else TIMEOUT * SLOWER,
        )
        outcome = "survived" if proc.returncode == 0 else "killed"
    except subprocess.TimeoutExpired:
        outcome = "timeout"
    finally:
        target.write_text(original)
    return Result(m.line, m.code, m.mutation, outcome, len(tests - {EVERY_TEST}),
                  round(time.monotonic() - started, 2))


def load_equivalents() -> dict[tuple[str, str, str], str]:
    if not EQUIVALENT.exists():
        return {}
    table = tomllib.loads(EQUIVALENT.read_text())
    return {(e["module"], e["code"], e["mutation"]): e["why"] for e in table.get("equivalent", [])}


def _result_path(module: str) -> Path:
    return RESULTS / (module.replace("/", ".").removesuffix(".py") + ".json")


def _source_digest(module: str) -> str:
    return hashlib.sha256((ROOT / module).read_bytes()).hexdigest()


def _earlier(module: str) -> dict[tuple[int, str, str], Result]:
    """The last run's results of the module, for --again: only while its source is the same
    (otherwise line numbers and mutants differ, and everything runs again)."""
    path = _result_path(module)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    if data.get("digest") != _source_digest(module):
        print("  (the source changed since the last run: every mutant runs again)", flush=True)
        return {}
    return {(r["line"], r["code"], r["mutation"]): Result(**r) for r in data["results"]}


def run_module(python: str, module: str, cov: dict[str, dict[int, set[str]]],
               trees: queue.Queue[Path], jobs: int, sample: int | None,
               again: bool = False) -> ModuleResult:
    everything = mutants_of(module)
    chosen = even_sample(everything, sample)
    equivalents = load_equivalents()
    earlier = _earlier(module) if again else {}
    result = ModuleResult(module, len(everything), len(chosen), digest=_source_digest(module))
    if SELECTED is not None:
        before: list[str] = []
        if earlier and _result_path(module).exists():
            before = json.loads(_result_path(module).read_text()).get("tests", [])
        result.tests = sorted({*SELECTED, *before})
    lines = cov.get(module, {})
    rank: dict[str, int] = {}
    for tests in lines.values():
        for f in {t.split("::")[0] for t in tests}:
            rank[f] = rank.get(f, 0) + 1

    def one(m: Mutant) -> Result:
        if m.key in equivalents:
            return Result(m.line, m.code, m.mutation, "equivalent", why=equivalents[m.key])
        before = earlier.get((m.line, m.code, m.mutation))
        if before is not None and before.outcome == "killed":
            return before  # a test added since cannot bring a killed mutant back
        # a timeout runs again: on a loaded machine the tests may simply have been slow
        # what runs at import time ran before coverage started (the pytest plugin imports
        # recstate): every test may depend on it
        tests: set[str] = {EVERY_TEST} if m.at_import else set()
        for line in range(m.line, m.end_line + 1):
            tests |= lines.get(line, set())
        tree = trees.get()
        try:
            return run_mutant(python, tree, m, tests, rank)
        finally:
            trees.put(tree)

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for i, r in enumerate(pool.map(one, chosen), 1):
            result.results.append(r)
            mark = {"killed": ".", "timeout": "T", "survived": "S", "uncovered": "U",
                    "equivalent": "E"}[r.outcome]
            print(mark, end="" if i % 60 else "\n", flush=True)
            if r.outcome in ("survived", "uncovered"):
                print(f"\n  {r.outcome}: {module}:{r.line}: {r.mutation}: {r.code}", flush=True)
    print(flush=True)
    return result


def render_report() -> str:
    rows = []
    survivors = []
    equivalents = []
    selections = []
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        results = [Result(**r) for r in data["results"]]
        count = {o: sum(r.outcome == o for r in results)
                 for o in ("killed", "timeout", "survived", "uncovered", "equivalent")}
        live = len(results) - count["equivalent"]
        dead = count["killed"] + count["timeout"]
        score = f"{100 * dead / live:.0f}%" if live else "n/a"
        if data.get("tests"):
            selections.append(f"- `{data['module']}`: " + ", ".join(
                f"`{Path(t).name}`" for t in data["tests"]))
        rows.append(f"| `{data['module']}` | {data['total']} | {len(results)} | {dead} | "
                    f"{count['equivalent']} | {count['survived'] + count['uncovered']} | "
                    f"**{score}** |")
        for r in results:
            if r.outcome in ("survived", "uncovered"):
                survivors.append(f"| `{data['module']}:{r.line}` | `{r.mutation}` | "
                                 f"`{r.code[:70]}` | {r.outcome} |")
            elif r.outcome == "equivalent":
                equivalents.append(f"| `{data['module']}:{r.line}` | `{r.mutation}` | {r.why} |")
    parts = [
        "# Mutation testing",
        "",
        "`python3 dev.py mutate [MODULE ...] [--sample N]` (tools/mutate.py) applies one mutant",
        "at a time to a copy of the tree and runs the tests that cover its lines. Killed counts",
        "a failing test or a run over the time limit; the score is killed / (mutants sampled -",
        "equivalent). Not in CI: it takes minutes a module. Rows are from each module's",
        "latest run.",
        "",
        "| module | mutants | sampled | killed | equivalent | survived | score |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *(["Rows run against chosen test files (`--tests`, quicker on a loaded machine; a "
           "mutant the rest of the suite would kill counts as a survivor there):", "",
           *selections, ""] if selections else []),
        "## Equivalent mutants (cannot change behaviour)",
        "",
        "| where | mutation | why |",
        "|---|---|---|",
        *(equivalents or ["| - | - | - |"]),
        "",
        "## Survivors",
        "",
        "| where | mutation | line | outcome |",
        "|---|---|---|---|",
        *(survivors or ["| - | - | - | - |"]),
        "",
    ]
    return "\n".join(parts)


def expand(patterns: list[str]) -> list[str]:
    modules: list[str] = []
    for pattern in patterns:
        matches = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern))
        if not matches:
            sys.exit(f"mutate: no module matches {pattern!r} (give paths like recstate/timers.py)")
        modules += [m for m in matches if not m.endswith("__init__.py") or m == pattern]
    return modules


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dev.py mutate", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="module paths or globs (default: the core "
                        "modules issue 8 names and every vendor machine)")
    parser.add_argument("--sample", type=int, default=None,
                        help="an even sample of N mutants a module (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--again", action="store_true",
                        help="run only the mutants the module's last run did not kill outright "
                        "(survived, uncovered or timed out), keeping its killed ones, while its "
                        "source is unchanged")
    parser.add_argument("--fresh-coverage", action="store_true",
                        help="record per-test coverage anew instead of reusing the cache")
    parser.add_argument("--tests", nargs="+", metavar="GLOB",
                        help="only these test files (globs under the project root, e.g. "
                        "'tests/test_juphoon_*.py'): coverage is recorded for them and mutants "
                        "run against them alone, a quicker run whose score can only be lower "
                        "than the whole suite's")
    parser.add_argument("--slower", type=float, default=1.0, metavar="X",
                        help=f"allow X times the {TIMEOUT:g} s a mutant's tests may take before "
                        "it counts as hanging them (on a loaded machine; --again re-runs the "
                        "timeouts)")
    args = parser.parse_args(argv)
    modules = expand(args.modules or list(DEFAULT_MODULES))
    global SELECTED, SLOWER
    SLOWER = args.slower
    if args.tests:
        SELECTED = sorted({str(p.relative_to(ROOT)) for g in args.tests for p in ROOT.glob(g)
                           if p.name.startswith("test_") and p.suffix == ".py"})
        if not SELECTED:
            sys.exit(f"mutate: no test file matches {args.tests}")
    if args.list:
        for module in modules:
            for m in even_sample(mutants_of(module), args.sample):
                print(f"{m.module}:{m.line}: {m.mutation}: {m.code}")
        return
    python = sys.executable
    cov = coverage_map(python, fresh=args.fresh_coverage, only=SELECTED)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="recstate-mutate-") as tmp:
        trees: queue.Queue[Path] = queue.Queue()
        for i in range(args.jobs):
            trees.put(_copy_tree(Path(tmp) / f"tree{i}"))
        for module in modules:
            print(f"+ {module}", flush=True)
            res = run_module(python, module, cov, trees, args.jobs, args.sample, args.again)
            _result_path(module).write_text(
                json.dumps(asdict(res), indent=1, ensure_ascii=False) + "\n")
            REPORT.write_text(render_report())  # after each module: a long run shows progress
    REPORT.write_text(render_report())
    print(f"+ wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
