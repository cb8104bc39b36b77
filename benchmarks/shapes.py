"""
The shape of a generated project: aliases, apps, tables and test classes.

Plain data and pure functions, so that what a benchmark runs can be read
(and checked) without writing a file or starting Django.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The projects whose whole suite is run: how many aliases, and whether half of the classes are TransactionTestCases.
SUITE_KINDS = ("multi", "single-ttc", "single-testcase")
#: The project of the inner loop: the multi-database project, of which one class is run at a time.
INNER_LOOP = "inner-loop"
PROJECT_KINDS = (*SUITE_KINDS, INNER_LOOP)
#: Tests in each generated class (PairWrites in the template's bench_suite.py).
TESTS_PER_CLASS = 3
MULTI_ALIASES = ("default", "db_1", "db_2", "db_3")
#: Read replicas (``TEST["MIRROR"]`` aliases) and their primaries; no test uses them.
MULTI_MIRRORS = (("replica", "default"),)
INNER_LOOP_MIRRORS = (("replica", "default"), ("replica_1", "db_1"))


@dataclass(frozen=True)
class TestClassSpec:
    """One generated test class: the alias it uses and the two tables it writes to."""

    name: str
    alias: str
    app: str
    transactional: bool
    parent_model: str
    child_model: str

    @classmethod
    def writing_pair(cls, index: int, alias: str, app: str, transactional: bool, pair: int) -> TestClassSpec:
        """Return the ``index``-th class of the suite, writing the ``pair``-th parent and child models of ``app``."""
        return cls(
            name=f"{'Transaction' if transactional else 'Atomic'}{index:03d}",
            alias=alias,
            app=app,
            transactional=transactional,
            parent_model=model_name(2 * pair),
            child_model=model_name(2 * pair + 1),
        )


@dataclass(frozen=True)
class ProjectShape:
    """A sample project: ``app_k`` on ``aliases[k]``, each with ``tables`` models, and mirrors no test uses."""

    kind: str
    aliases: tuple[str, ...]
    tables: int
    classes: int
    with_transaction_test_cases: bool
    mirrors: tuple[tuple[str, str], ...] = ()

    @property
    def apps(self) -> dict[str, str]:
        """Return the alias of each app, in alias order."""
        return {f"app_{index}": alias for index, alias in enumerate(self.aliases)}

    @property
    def multi_database(self) -> bool:
        return len(self.aliases) > 1

    @property
    def test_count(self) -> int:
        return self.classes * TESTS_PER_CLASS

    def describe(self) -> str:
        """Return a one-line summary, such as ``multi (4 aliases x 40 tables, 120 classes)``."""
        aliases = f"{len(self.aliases)} alias{'es' if self.multi_database else ''}"
        kinds = "" if self.with_transaction_test_cases else ", TestCase only"
        return f"{self.kind} ({aliases} x {self.tables} tables, {self.classes} classes{kinds})"


def model_name(index: int) -> str:
    """Name the ``index``-th model of an app."""
    return f"Record{index:02d}"


def project_shape(kind: str, classes: int, tables: int) -> ProjectShape:
    """Return the shape of the sample project ``kind`` (one of PROJECT_KINDS)."""
    if kind not in PROJECT_KINDS:
        raise ValueError(f"Unknown project {kind!r}: choose from {', '.join(PROJECT_KINDS)}.")
    if tables < 2:
        raise ValueError("Each app needs at least 2 tables: a parent and a child.")
    if classes < 1:
        raise ValueError("The suite needs at least one test class.")
    multi = kind in ("multi", INNER_LOOP)
    return ProjectShape(
        kind=kind,
        aliases=MULTI_ALIASES if multi else ("default",),
        tables=tables,
        classes=classes,
        with_transaction_test_cases=kind != "single-testcase",
        mirrors=INNER_LOOP_MIRRORS if kind == INNER_LOOP else MULTI_MIRRORS if multi else (),
    )


def test_class_specs(shape: ProjectShape) -> list[TestClassSpec]:
    """
    Spread the test classes over the aliases, the class kinds and the tables.

    Class ``i`` uses alias ``i mod len(aliases)``, so every alias (``default``
    included) gets its share; on each alias the classes alternate between
    TransactionTestCase and TestCase, and walk through the parent/child
    table pairs (model 2j and its child 2j+1) so that many tables are used.
    """
    specs = []
    pairs = shape.tables // 2
    for index in range(shape.classes):
        position, round_ = index % len(shape.aliases), index // len(shape.aliases)
        transactional = shape.with_transaction_test_cases and round_ % 2 == 0
        specs.append(
            TestClassSpec.writing_pair(index, shape.aliases[position], f"app_{position}", transactional, round_ % pairs)
        )
    return specs


@dataclass(frozen=True)
class InnerLoopCase:
    """One class of the inner loop: its name in the results, and the ``manage.py test`` label that runs it."""

    name: str
    label: str
    transactional: bool

    @property
    def test_count(self) -> int:
        return TESTS_PER_CLASS

    def describe(self) -> str:
        """Return a one-line summary, such as ``app_0.tests.Transaction000 (TransactionTestCase, default only)``."""
        return f"{self.label} ({'TransactionTestCase' if self.transactional else 'TestCase'}, default only)"


def inner_loop_cases(shape: ProjectShape) -> list[InnerLoopCase]:
    """
    Return the classes of the inner loop: the first TransactionTestCase and the first TestCase using ``default``.

    A kind the suite has no class of on ``default`` (too few ``--classes``) is left out.
    """
    cases = []
    for transactional, name in ((True, "ttc"), (False, "testcase")):
        spec = next(
            (
                spec
                for spec in test_class_specs(shape)
                if spec.alias == "default" and spec.transactional == transactional
            ),
            None,
        )
        if spec is not None:
            cases.append(InnerLoopCase(name, f"{spec.app}.tests.{spec.name}", transactional))
    return cases
