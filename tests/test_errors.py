"""One error hierarchy (issue 21): every exception class of the project derives from
corpus.errors.UnionQAError, and the command line turns any of them into one line."""

from __future__ import annotations

import ast
import builtins

from corpus.errors import LoadError, UnionQAError
from tests.test_layers import project_modules
from ui import cli


def exception_classes() -> dict[str, list[str]]:
    """Each class defined in bot/ index/ corpus/ ui/ by name → the names of its bases (read
    with ast: nothing is imported)."""
    classes: dict[str, list[str]] = {}
    for name, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                         for b in node.bases]
                classes[f"{name}.{node.name}"] = bases
    return classes


def reaches(cls: str, target: str, classes: dict[str, list[str]], by_short: dict[str, list[str]]) -> bool:
    seen, todo = set(), [cls]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for base in classes.get(current, []):
            if base == target:
                return True
            todo.extend(by_short.get(base, []))
    return False


def test_every_exception_class_is_a_unionqa_error():
    classes = exception_classes()
    by_short: dict[str, list[str]] = {}
    for full in classes:
        by_short.setdefault(full.rpartition(".")[2], []).append(full)

    def builtin_exception(name: str) -> bool:
        obj = getattr(builtins, name, None)
        return isinstance(obj, type) and issubclass(obj, BaseException)

    def is_exception(full: str) -> bool:
        return any(builtin_exception(b) or any(is_exception(f) for f in by_short.get(b, []) if f != full)
                   for b in classes[full])

    errors = sorted(full for full in classes if is_exception(full) and full != "corpus.errors.UnionQAError")
    assert len(errors) >= 15  # the walk sees them: LoadError, StoreError and its kin, LLMError …
    outside = [full for full in errors if not reaches(full, "UnionQAError", classes, by_short)]
    assert outside == [], "exception classes outside the one hierarchy"


def test_the_base_error_has_a_chinese_line_with_its_hint():
    plain = LoadError("文件已损坏。")
    assert plain.line() == "文件已损坏。" and plain.status == 422
    hinted = UnionQAError("找不到索引。", hint="请先运行 unionqa build")
    assert hinted.line() == "找不到索引。（请先运行 unionqa build）" and hinted.status == 500
    assert UnionQAError("找不到索引。请先运行 unionqa build", hint="请先运行 unionqa build").line().count("unionqa") == 1


def test_the_cli_turns_any_project_error_into_one_line(tmp_path, capsys):
    """A missing index (a StoreError, caught as the base) is one line and exit code 2."""
    missing = tmp_path / "no-such-folder"
    code = cli.main(["list", "--index", str(missing)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("错误：") and err.count("\n") == 1 and "Traceback" not in err
