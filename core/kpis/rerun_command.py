"""A shell command that re-runs just the failing tests of a run, for the QA page's "copy" box.

JUnit reports do not say which tool wrote them, so the runner is read from the test names:

- **pytest** writes ``classname`` as the dotted module path plus any classes
  (``tests.test_lib.TestAcme``); a module segment named ``test_*.py`` or ``*_test.py`` gives the
  file, and the node id is ``tests/test_lib.py::TestAcme::test_y[param]``.
- **Maven Surefire** (and TestNG, Gradle, Ant) write the Java class (``org.apache.pulsar.FooTest``):
  the command is ``mvn test -Dtest='FooTest#a+b,BarTest#c'`` with simple class names, the syntax
  Surefire documents (2.19+). JUnit parameter suffixes (``test[1]``) are dropped, since ``-Dtest``
  selects methods. Ant puts ``Class.method`` in ``name`` with no classname; that is split too.
  A class must have a package, so python unittest's bare ``TestAcme`` is not taken for Java.

Anything else (python unittest's bare ``TestAcme``, which names no file) gets no command and a
reason saying why, rather than a command that would run nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_PY_MODULE = re.compile(r"^(test_\w+|\w+_test)$")
_JAVA_CLASS = re.compile(r"^[A-Za-z_$][\w$]*$")
_PARAMS = re.compile(r"\[.*\]$|\(.*\)$")


@dataclass(frozen=True)
class Rerun:
    """The command for one run's failures (``command`` None when none can be built; ``reason`` says why)."""

    runner: str  # "pytest", "surefire" or "unknown"
    command: str | None
    tests: int
    reason: str = ""


def quoted(word: str) -> str:
    """``word`` in single quotes for a POSIX shell, always (``[``, ``$`` and ``#`` in test names stay literal)."""
    return "'" + word.replace("'", "'\"'\"'") + "'"


def pytest_node_id(classname: str | None, name: str) -> str | None:
    """The pytest node id of a case (``tests/test_x.py::TestC::test_y``), or None when ``classname`` names no
    ``test_*``/``*_test`` module."""
    if not classname:
        return None
    parts = classname.split(".")
    module = next((i for i, part in enumerate(parts) if _PY_MODULE.match(part)), None)
    if module is None:
        return None
    path = "/".join(parts[: module + 1]) + ".py"
    return "::".join([path, *parts[module + 1 :], name])


def java_test(classname: str | None, name: str) -> tuple[str, str] | None:
    """(simple class name, method) of a JUnit/TestNG case, or None when the names are not Java-shaped.

    ``name`` loses a parameter suffix (``testX[1]``, ``testX(int)``); Ant's ``org.x.FooTest.testBar`` with no
    classname is split at its last dot.
    """
    if not classname and "." in name:
        classname, name = name.rsplit(".", 1)
    if not classname:
        return None
    parts = classname.split(".")
    if len(parts) < 2 or not all(_JAVA_CLASS.match(part) for part in parts) or not parts[-1][:1].isupper():
        return None  # a bare class (python unittest's "TestAcme") names no package: not taken for Java
    method = _PARAMS.sub("", name).strip()
    if not method or not _JAVA_CLASS.match(method):
        return None
    return parts[-1], method


def rerun_command(cases: Iterable[tuple[str | None, str]]) -> Rerun:
    """The command that re-runs the ``(classname, name)`` cases: pytest node ids when every case has one,
    else a Surefire ``-Dtest`` selection when every case is Java-shaped, else none (with the reason)."""
    wanted = list(dict.fromkeys(cases))
    if not wanted:
        return Rerun("unknown", None, 0, "no failing tests")
    nodes = [pytest_node_id(classname, name) for classname, name in wanted]
    if all(nodes):
        return Rerun("pytest", "pytest " + " ".join(quoted(str(node)) for node in nodes), len(wanted))
    methods = [java_test(classname, name) for classname, name in wanted]
    if all(methods):
        by_class: dict[str, list[str]] = {}
        for found in methods:
            assert found is not None
            by_class.setdefault(found[0], [])
            if found[1] not in by_class[found[0]]:
                by_class[found[0]].append(found[1])
        selection = ",".join(f"{cls}#{'+'.join(names)}" for cls, names in by_class.items())
        return Rerun("surefire", f"mvn test {quoted('-Dtest=' + selection)}", len(wanted))
    odd = next(
        (
            classname or name
            for (classname, name), node, java in zip(wanted, nodes, methods, strict=True)
            if node is None and java is None
        ),
        None,
    )
    reason = (
        "the failing tests mix pytest and Java names; re-run them per runner"
        if odd is None
        else f"cannot tell the test runner from {odd!r}: neither a pytest module path (tests.test_x) nor a Java class"
    )
    return Rerun("unknown", None, len(wanted), reason)
