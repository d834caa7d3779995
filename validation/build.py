"""Build the validation report from the tests themselves (``make validation``).

Reads the validation plan (``validation/requirements.toml``), the JUnit XML and the coverage data
of one test run (``make test`` writes both into ``reports/validation/``), the test sources (which
reference folders each test reads, which tolerances it uses) and the reference folders (their
scripts, README and sessionInfo), and writes:

* ``index.html``: for each requirement, the tests that check it, the independent references they
  compare against (R package and version, SAS output or published table, with the script that
  made it), the tolerances and the result of this run; statement coverage of ``src/`` per module;
  the environment.
* ``traceability.csv``: the same matrix, one row per requirement and test.
* ``coverage.csv``: statement coverage per module.

Exits 1 (after writing the report) when a requirement that is not pending has no test, a test
failed, a test module is mapped to no requirement, or a command of the CLI or a command or
output table of SPEC.md is covered by no requirement. No network; the output depends only on
the inputs and the run's date (the JUnit timestamp).

Usage: python validation/build.py [--junit FILE] [--coverage FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import ast
import csv
import fnmatch
import json
import os
import platform
import re
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
SCRIPT_SUFFIXES = {".R", ".r", ".sas", ".py", ".sh"}
VERSION_FILES = ("sessionInfo*.txt", "*versions*.txt", "r_version.txt")
TOLERANCE_ARGS = ("rtol", "atol", "abs", "rel")


# --- the run: JUnit XML ---------------------------------------------------------------------


@dataclass
class Result:
    nodeid: str
    outcome: str  # passed | failed | error | skipped
    message: str = ""

    @property
    def module(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def function(self) -> str:
        return self.nodeid.split("::")[-1].split("[", 1)[0]


def _nodeid_from_classname(classname: str, name: str) -> str:
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        candidate = "/".join(parts[:i]) + ".py"
        if (ROOT / candidate).exists():
            return "::".join([candidate, *parts[i:], name])
    return f"{classname.replace('.', '/')}.py::{name}"


def read_junit(path: Path) -> tuple[list[Result], str]:
    """The results of every test case, and the run's date (the suite's timestamp)."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    results, stamp = [], ""
    for suite in suites:
        stamp = stamp or suite.get("timestamp", "")
        for case in suite.iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            nodeid = props.get("nodeid") or _nodeid_from_classname(
                case.get("classname", ""), case.get("name", "")
            )
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                el = case.find(tag)
                if el is not None:
                    outcome = {"failure": "failed"}.get(tag, tag)
                    message = (el.get("message") or "").splitlines()[0] if el.get("message") else ""
                    break
            if outcome == "skipped":
                message = message.removeprefix("Skipped: ")
            results.append(Result(nodeid, outcome, message))
    return results, stamp


# --- the tests' sources: which references each test reads, which tolerances it uses ----------


def _flatten_div(node) -> list:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return _flatten_div(node.left) + _flatten_div(node.right)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split("/")
    return [None]


def _direct_references(node) -> set[str]:
    """Reference folders named in a node: ``ROOT / "tests" / "reference" / "x"`` or a string."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
            parts = _flatten_div(n)
            for a, b in zip(parts, parts[1:], strict=False):
                if a == "reference" and isinstance(b, str) and b:
                    out.add(f"tests/reference/{b}")
        elif isinstance(n, ast.Constant) and isinstance(n.value, str):  # a path, nothing else
            m = re.fullmatch(r"(?:\.\./)*(?:tests/)?reference/([\w.-]+)(?:/[\w./-]*)?", n.value)
            if m:
                out.add(f"tests/reference/{m[1]}")
    return {r for r in out if (ROOT / r).is_dir()}


def _tolerances(node, source: str = "") -> set[str]:
    """The tolerance arguments in a node, as written (``rtol=1e-6``)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.keyword) and n.arg in TOLERANCE_ARGS:
            text = ast.get_source_segment(source, n.value) or ast.unparse(n.value)
            text = " ".join(text.split())
            out.add(f"{n.arg}={text if len(text) <= 40 else text[:37] + '...'}")
    return out


@dataclass
class Static:
    references: set[str] = field(default_factory=set)
    tolerances: set[str] = field(default_factory=set)


class ModuleIndex:
    """What each test function of one module reads, following module-level names it uses."""

    def __init__(self, path: Path):
        self.defs: dict[str, list[ast.AST]] = defaultdict(list)
        self.tests: dict[str, ast.AST] = {}
        self.source = ""
        self._memo: dict[str, Static] = {}
        try:
            self.source = path.read_text(encoding="utf-8")
            tree = ast.parse(self.source)
        except (OSError, SyntaxError):
            return
        for stmt in tree.body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[stmt.name].append(stmt)
                if stmt.name.startswith("test"):
                    self.tests[stmt.name] = stmt
                if isinstance(stmt, ast.ClassDef):
                    for sub in stmt.body:
                        if isinstance(sub, ast.FunctionDef) and sub.name.startswith("test"):
                            self.tests.setdefault(sub.name, sub)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name):
                            self.defs[n.id].append(stmt)

    def _names(self, node) -> set[str]:
        names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names |= {a.arg for a in node.args.args}  # fixtures defined in the module
        return names

    def _resolve(self, name: str, seen: set[str]) -> Static:
        if name in self._memo:
            return self._memo[name]
        out = Static()
        if name in seen or name not in self.defs:
            return out
        seen.add(name)
        for node in self.defs[name]:
            out.references |= _direct_references(node)
            out.tolerances |= _tolerances(node, self.source)
            for used in self._names(node) - {name}:
                sub = self._resolve(used, seen)
                out.references |= sub.references
                out.tolerances |= sub.tolerances
        self._memo[name] = out
        return out

    def test(self, function: str) -> Static:
        node = self.tests.get(function)
        if node is None:
            return Static()
        out = Static(_direct_references(node), _tolerances(node, self.source))
        for used in self._names(node):
            sub = self._resolve(used, {function})
            out.references |= sub.references
            out.tolerances |= sub.tolerances
        return out


# --- references ------------------------------------------------------------------------------


def _versions(folder: Path) -> str:
    """R and package versions from the folder's sessionInfo / versions files."""
    r_version, packages = "", []
    files = sorted({f for pattern in VERSION_FILES for f in folder.glob(pattern)})
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"R version (\d+\.\d+\.\d+)", text)
        r_version = r_version or (m.group(1) if m else "")
        block = re.search(r"other attached packages:\n(.*?)(?:\n\s*\n|\Z)", text, re.S)
        if block:
            packages += [
                f"{p} {v}" for p, v in re.findall(r"([A-Za-z][\w.]*)_(\d[\w.-]*)", block[1])
            ]
        packages += [
            f"{p} {v}"
            for p, v in re.findall(r"^([A-Za-z][\w.]*)[ :]+(\d+\.[\w.-]+)\s*$", text, re.M)
            if p != "R"
        ]
    packages = list(dict.fromkeys(packages))
    return "; ".join(filter(None, [f"R {r_version}" if r_version else "", ", ".join(packages)]))


def _readme_tolerance(readme: Path) -> str:
    lines = readme.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#") and "toleran" in line.lower():
            body = [s.strip() for s in lines[i + 1 : i + 12] if s.strip()]
            return " ".join(body[:3])[:300]
    for line in lines:
        if "toleran" in line.lower():
            return line.strip()[:300]
    return ""


def describe_reference(key: str, declared: dict) -> dict:
    path = ROOT / key if not key.startswith("published:") else None
    info = {
        "key": key,
        "what": declared.get("what", ""),
        "tolerance": declared.get("tolerance", ""),
        "tests": declared.get("tests", []),
        "scripts": [],
        "versions": "",
        "readme": "",
        "present": path is None or path.exists(),
        "published": key.startswith("published:") or key.endswith(".md"),
    }
    if path is not None and path.is_dir():
        info["scripts"] = sorted(
            str(p.relative_to(ROOT)) for p in path.iterdir() if p.suffix in SCRIPT_SUFFIXES
        )
        info["versions"] = _versions(path)
        readme = path / "README.md"
        if readme.exists():
            info["readme"] = str(readme.relative_to(ROOT))
            if not info["what"]:
                first = readme.read_text(encoding="utf-8").splitlines()[0]
                info["what"] = first.lstrip("# ").strip()
            if not info["tolerance"]:
                info["tolerance"] = _readme_tolerance(readme)
    elif path is not None and path.suffix in SCRIPT_SUFFIXES and path.exists():
        info["scripts"] = [key]
    return info


# --- matching --------------------------------------------------------------------------------


def matches(nodeid: str, pattern: str) -> bool:
    if "::" in pattern:
        return fnmatch.fnmatchcase(nodeid, pattern)
    return fnmatch.fnmatchcase(nodeid.split("::", 1)[0], pattern) or fnmatch.fnmatchcase(
        nodeid, pattern
    )


def module_is_mapped(module: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(module, p.split("::", 1)[0]) for p in patterns)


# --- coverage and environment ----------------------------------------------------------------


def read_coverage(path: Path) -> tuple[list[dict], dict]:
    if not path.exists():
        return [], {}
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for name, f in data.get("files", {}).items():
        p = Path(name)
        rel = p.relative_to(ROOT) if p.is_absolute() and p.is_relative_to(ROOT) else p
        s = f["summary"]
        rows.append({"module": rel.as_posix(), "statements": s["num_statements"],
                     "missed": s["missing_lines"], "percent": s["percent_covered"]})  # fmt: skip
    rows.sort(key=lambda r: r["module"])
    t = data.get("totals", {})
    total = {"statements": t.get("num_statements", 0), "missed": t.get("missing_lines", 0),
             "percent": t.get("percent_covered", 0.0)}  # fmt: skip
    return rows, total


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]


def environment() -> dict:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = [
        *project["project"]["dependencies"],
        *project.get("dependency-groups", {}).get("dev", []),
    ]
    packages = []
    for spec in names:
        name = _requirement_name(spec)
        try:
            packages.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            packages.append((name, "not installed"))
    try:
        own = metadata.version("ipt-outcomes")
    except metadata.PackageNotFoundError:
        own = project["project"]["version"]
    commit = ""
    if (ROOT / ".git").exists():
        try:
            commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], check=True,
                                    capture_output=True, text=True).stdout.strip()  # fmt: skip
            dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                    "--untracked-files=no"], capture_output=True, text=True).stdout  # fmt: skip
            commit += " (with uncommitted changes)" if dirty.strip() else ""
        except (OSError, subprocess.CalledProcessError):
            commit = ""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{platform.system()} {platform.machine()}",
        "ipt_outcomes": own,
        "commit": commit or "not a git checkout",
        "packages": sorted(packages, key=lambda p: p[0].lower()),
    }


# --- SPEC ------------------------------------------------------------------------------------


def spec_names(spec: Path, not_outputs: list[str]) -> tuple[set[str], set[str]]:
    text = spec.read_text(encoding="utf-8")
    section = re.search(r"^## Command line.*?(?=^## |\Z)", text, re.S | re.M)
    commands = set(re.findall(r"^\| `([a-z][a-z-]*)[ `]", section[0] if section else "", re.M))
    outputs = set(re.findall(r"`([a-z0-9_]+\.csv)`", text)) - set(not_outputs)
    return commands, outputs


def find_spec(explicit: str | None) -> Path | None:
    if explicit:  # named: that file or none
        return Path(explicit) if Path(explicit).is_file() else None
    candidates = []
    if os.environ.get("IPT_SHARED"):
        candidates.append(Path(os.environ["IPT_SHARED"]) / "SPEC.md")
    candidates.append(ROOT.parent / "shared" / "SPEC.md")
    return next((c for c in candidates if c.is_file()), None)


# --- the build -------------------------------------------------------------------------------


STATUS_ORDER = ["FAILED", "NO TEST", "validated", "tested, no reference comparison", "not run",
                "not yet validated"]  # fmt: skip


def build(args) -> int:
    plan = tomllib.loads(Path(args.requirements).read_text(encoding="utf-8"))
    results, stamp = read_junit(Path(args.junit))
    run_date = stamp[:19].replace("T", " ") + " UTC" if stamp else "unknown"
    declared_refs = plan.get("references", {})
    requirements = plan.get("requirement", [])
    errors, notes = [], []

    ids = [r["id"] for r in requirements]
    for dup in sorted(k for k, n in Counter(ids).items() if n > 1):
        errors.append(f"requirement id {dup} is used twice")

    indexes: dict[str, ModuleIndex] = {}

    def static(res: Result) -> Static:
        if res.module not in indexes:
            indexes[res.module] = ModuleIndex(ROOT / res.module)
        return indexes[res.module].test(res.function)

    refs = {k: describe_reference(k, v) for k, v in declared_refs.items()}
    for key, info in refs.items():
        if not info["present"] and not key.startswith("../shared"):
            errors.append(f"reference {key} (validation/requirements.toml) does not exist")

    rows, summaries, mapped_nodes = [], [], set()
    for req in requirements:
        patterns = req.get("tests", [])
        pending = bool(req.get("pending", False))
        hits = [r for r in results if any(matches(r.nodeid, p) for p in patterns)]
        mapped_nodes |= {r.nodeid for r in hits}
        req_refs = list(req.get("references", []))
        for key in req_refs:
            if key not in refs:
                refs[key] = describe_reference(key, {})
                if not refs[key]["present"]:
                    (notes if pending else errors).append(
                        f"{req['id']}: reference {key} does not exist"
                        + (" (yet: the requirement is pending)" if pending else "")
                    )
        tests = []
        for res in hits:
            st = static(res)
            read = set(st.references)
            for key in req_refs:
                if any(matches(res.nodeid, p) for p in refs[key]["tests"]):
                    read.add(key)
            for key in read - set(refs):
                refs[key] = describe_reference(key, {})
            tests.append({"result": res, "references": sorted(read),
                          "tolerances": sorted(st.tolerances)})  # fmt: skip
        found = sorted({k for t in tests for k in t["references"]} - set(req_refs))
        counts = Counter(t["result"].outcome for t in tests)
        failed = counts["failed"] + counts["error"]
        compared = sum(1 for t in tests if t["result"].outcome == "passed" and t["references"])
        if pending:
            status = "not yet validated"
        elif not tests:
            status = "NO TEST"
            errors.append(f"{req['id']}: no test matches {patterns}")
        elif failed:
            status = "FAILED"
            errors.append(f"{req['id']}: {failed} test(s) failed")
        elif counts["passed"] == 0:
            status = "not run"
        elif compared:
            status = "validated"
        else:
            status = "tested, no reference comparison"
        skips = Counter(t["result"].message for t in tests if t["result"].outcome == "skipped")
        tolerance = "; ".join(
            f"{k}: {refs[k]['tolerance']}" for k in req_refs + found if refs[k]["tolerance"]
        )
        summaries.append({
            "id": req["id"], "title": req["title"], "spec": req.get("spec", ""),
            "pending": pending, "status": status, "tests": tests, "counts": counts,
            "n": len(tests), "compared": compared, "references": req_refs, "found": found,
            "tolerance": tolerance, "skips": sorted(skips.items()), "patterns": patterns,
            "commands": req.get("commands", []), "outputs": req.get("outputs", []),
        })  # fmt: skip
        for t in tests or [None]:
            res = t["result"] if t else None
            rows.append({
                "requirement": req["id"], "title": req["title"], "spec": req.get("spec", ""),
                "status": status, "pending": "yes" if pending else "no",
                "test": res.nodeid if res else "", "outcome": res.outcome if res else "",
                "skip_reason": res.message if res and res.outcome == "skipped" else "",
                "reference_comparison": ("yes" if t and t["references"] else "no") if t else "",
                "references_read": ";".join(t["references"]) if t else "",
                "tolerances_in_test": ";".join(t["tolerances"]) if t else "",
                "requirement_references": ";".join(req_refs + found),
            })  # fmt: skip

    # every test module is mapped to some requirement
    all_patterns = [p for r in requirements for p in r.get("tests", [])]
    modules = {r.module for r in results} | {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
    }
    for module in sorted(modules):
        if not module_is_mapped(module, all_patterns):
            errors.append(
                f"test module {module} is mapped to no requirement (validation/requirements.toml)"
            )
    unmapped = sorted(r.nodeid for r in results if r.nodeid not in mapped_nodes)
    failed_anywhere = [r.nodeid for r in results if r.outcome in ("failed", "error")]
    for nodeid in failed_anywhere:
        if nodeid not in mapped_nodes:
            errors.append(f"{nodeid} failed")

    # every command of the CLI, and every command and output table of SPEC.md
    covered_commands = {c for r in requirements for c in r.get("commands", [])}
    covered_outputs = {o for r in requirements for o in r.get("outputs", [])}
    sys.path.insert(0, str(ROOT / "src"))
    from ipt_outcomes.cli import COMMANDS

    for name, *_ in COMMANDS:
        if name not in covered_commands:
            errors.append(f"command {name} (ipt_outcomes.cli.COMMANDS) is in no requirement")
    spec = find_spec(args.spec)
    if spec is None:
        notes.append(
            "SPEC.md not found (../shared or IPT_SHARED): its command and table names were not checked"
        )
    else:
        spec_commands, spec_outputs = spec_names(spec, plan.get("spec", {}).get("not_outputs", []))
        for name in sorted(spec_commands - covered_commands):
            errors.append(f"SPEC.md command {name} is in no requirement")
        for name in sorted(spec_outputs - covered_outputs):
            errors.append(f"SPEC.md output table {name} is in no requirement")
        notes.append(
            f"SPEC.md checked ({len(spec_commands)} commands, {len(spec_outputs)} output tables)"
        )

    coverage_rows, coverage_total = read_coverage(Path(args.coverage))
    if not coverage_rows:
        notes.append(
            f"no coverage data at {args.coverage}: run make test (it runs pytest under coverage)"
        )

    outcomes = Counter(r.outcome for r in results)
    skip_reasons = Counter(r.message for r in results if r.outcome == "skipped")
    statuses = Counter(s["status"] for s in summaries)
    used_refs = sorted(
        {k for s in summaries for k in s["references"] + s["found"]}, key=lambda k: (k.startswith("published:"), k)
    )  # fmt: skip

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("report.html.j2").render(
        run_date=run_date, env=environment(), summaries=summaries, refs=refs,
        used_refs=used_refs, outcomes=outcomes, n_tests=len(results),
        skip_reasons=sorted(skip_reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        statuses=[(s, statuses[s]) for s in STATUS_ORDER if statuses[s]],
        coverage=coverage_rows, coverage_total=coverage_total, errors=errors, notes=notes,
        unmapped=unmapped,
    )  # fmt: skip
    (out / "index.html").write_text(html, encoding="utf-8")
    with (out / "traceability.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    with (out / "coverage.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["module", "statements", "missed", "percent"],
                                lineterminator="\n")  # fmt: skip
        writer.writeheader()
        writer.writerows({**r, "percent": f"{r['percent']:.1f}"} for r in coverage_rows)

    print(f"validation report: {out / 'index.html'} ({out / 'traceability.csv'})")
    print("requirements: " + ", ".join(f"{n} {s}" for s, n in statuses.items()))
    print(f"tests: {len(results)} ({', '.join(f'{n} {o}' for o, n in sorted(outcomes.items()))})")
    if coverage_total:
        print(f"statement coverage of src/: {coverage_total['percent']:.1f}%")
    for note in notes:
        print(f"note: {note}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requirements", default=str(HERE / "requirements.toml"))
    p.add_argument("--junit", default=str(ROOT / "reports" / "validation" / "junit.xml"))
    p.add_argument("--coverage", default=str(ROOT / "reports" / "validation" / "coverage.json"))
    p.add_argument("--spec", default=None, help="SPEC.md (default: $IPT_SHARED or ../shared)")
    p.add_argument("--out", default=str(ROOT / "reports" / "validation"))
    args = p.parse_args(argv)
    if not Path(args.junit).exists():
        print(f"error: no test results at {args.junit}: run make test first", file=sys.stderr)
        return 1
    return build(args)


if __name__ == "__main__":
    sys.exit(main())
