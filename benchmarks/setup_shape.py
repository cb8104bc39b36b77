"""
The shape of the set-up benchmark's project: migration histories, tenants, test classes and cases.

The project is the kind whose test databases are slow to set up: long
migration histories with data migrations on ``default``, a second primary
(``other``) with its own app, and tenants (``tenant_1`` ... ``tenant_N``)
sharing one schema, the ``tenants`` app, that a router migrates on them
only. Plain data and pure functions, as in ``shapes.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapes import TESTS_PER_CLASS, TestClassSpec, model_name

#: The apps with an alias of their own, and that alias.
PRIMARY_APPS = {"main": "default", "other": "other"}
TENANT_APP = "tenants"
#: The model every data migration writes rows to, and the test class that reads them on every tenant.
SEED_MODEL = "Seed"
TENANT_CLASS = "Tenants"
#: The test that fails on a stale tenant database (bench_suite.TenantWrites); the only one allowed to fail.
STALE_TEST = "test_migrated_schema"
TENANT_TESTS = 2
#: Every fifth migration writes rows (and the last one of each app).
DATA_MIGRATION_EVERY = 5
SEEDS_PER_DATA_MIGRATION = 3
#: Test classes of each primary app: (TestCase, TransactionTestCase).
CLASSES = {"main": (4, 2), "other": (3, 1)}
#: The cases, in the order they run; every case but the edited migration runs fresh, then with --keepdb.
CASE_KINDS = ("one-class", "tenants", "suite", "suite-parallel", "edited-migration")


@dataclass(frozen=True)
class MigrationSpec:
    """One migration of an app: the models it creates, the field it adds, and the rows its RunPython writes."""

    app: str
    number: int
    creates: tuple[str, ...] = ()
    #: (model, field): an IntegerField with a default.
    adds: tuple[str, str] | None = None
    #: The ``name`` of each row written to SEED_MODEL by a RunPython; none if it is a schema migration only.
    seeds: tuple[str, ...] = ()
    #: The edit of the benchmark's last case: also add a column to SEED_MODEL, and write one more row.
    edited: bool = False

    @property
    def edited_rows(self) -> tuple[str, ...]:
        """Return the rows the edit adds to what the migration writes to SEED_MODEL."""
        return (f"edited-{self.number:04d}",) if self.edited else ()

    @property
    def name(self) -> str:
        """Name it as makemigrations would: ``0001_initial``, ``0007_record07``, ``0025_record05_extra_0025``."""
        if self.number == 1:
            return "0001_initial"
        if self.creates:
            return f"{self.number:04d}_{self.creates[0].lower()}"
        if self.adds:
            return f"{self.number:04d}_{self.adds[0].lower()}_{self.adds[1]}"
        return f"{self.number:04d}_seed_rows"


@dataclass(frozen=True)
class SetupShape:
    """The set-up project: ``migrations`` on ``default``'s app, half as many on ``other``, a third on the tenants."""

    migrations: int
    tenants: int

    @property
    def tenant_aliases(self) -> tuple[str, ...]:
        return tuple(f"tenant_{index}" for index in range(1, self.tenants + 1))

    @property
    def shared_schemas(self) -> dict[str, tuple[str, ...]]:
        return {TENANT_APP: self.tenant_aliases}

    def migration_count(self, app: str) -> int:
        """Return how many migrations ``app`` has: 60, 30 and 20 for ``--migrations 60``."""
        divisor = {"main": 1, "other": 2, TENANT_APP: 3}[app]
        return max(1, self.migrations // divisor)

    def record_count(self, app: str) -> int:
        """Return how many ``Record`` models ``app`` has: a third of its migrations create one, at least a pair."""
        return max(2, self.migration_count(app) // 3)

    @property
    def test_count(self) -> int:
        return sum(sum(counts) for counts in CLASSES.values()) * TESTS_PER_CLASS + TENANT_TESTS

    def describe(self) -> str:
        counts = ", ".join(f"{app} on {alias}: {self.migration_count(app)}" for app, alias in PRIMARY_APPS.items()) + (
            f", {TENANT_APP} on {self.tenants} tenants: {self.migration_count(TENANT_APP)}"
        )
        return f"migrations ({counts})"


def migration_specs(shape: SetupShape, app: str, edited: bool = False) -> list[MigrationSpec]:
    """
    Return the migrations of ``app``, oldest first.

    ``0001_initial`` creates SEED_MODEL and the first pair of records; the
    next migrations create one record each, then add a field each to the
    records in turn. Every fifth migration, and the last, is also a data
    migration. With ``edited``, the last migration is the edited one.
    """
    count, records = shape.migration_count(app), shape.record_count(app)
    specs = []
    for number in range(1, count + 1):
        creates: tuple[str, ...] = ()
        adds = None
        if number == 1:
            creates = (SEED_MODEL, model_name(0), model_name(1))
        elif number < records:
            creates = (model_name(number),)
        else:
            adds = (model_name(number % records), f"extra_{number:04d}")
        seeds = ()
        if number % DATA_MIGRATION_EVERY == 0 or number == count:
            seeds = tuple(f"seed-{number:04d}-{row}" for row in range(SEEDS_PER_DATA_MIGRATION))
        specs.append(MigrationSpec(app, number, creates, adds, seeds, edited and number == count))
    return specs


def edited_rows(specs: list[MigrationSpec]) -> tuple[str, ...]:
    """Return the rows that the edited migration, if any, adds to SEED_MODEL."""
    return tuple(name for spec in specs for name in spec.edited_rows)


def test_class_specs(shape: SetupShape) -> list[TestClassSpec]:
    """
    Return the test classes of the primary apps: TestCases, then a few TransactionTestCases, on each.

    Each class writes a pair of records (its own pair, while the app has
    enough) on its app's alias. The tenants' one class is written apart.
    """
    specs = []
    for app, alias in PRIMARY_APPS.items():
        pairs = shape.record_count(app) // 2
        testcases, transaction_testcases = CLASSES[app]
        for index in range(testcases + transaction_testcases):
            specs.append(TestClassSpec.writing_pair(index, alias, app, index >= testcases, index % pairs))
    return specs


@dataclass(frozen=True)
class SetupCase:
    """One timed case: what ``manage.py test`` runs, how, and whether a tenant migration is edited first."""

    kind: str
    labels: tuple[str, ...]
    test_count: int
    parallel: bool = False
    keepdb: bool = False
    edit: bool = False

    @property
    def name(self) -> str:
        """Return the case as the tables show it, such as ``tenants --keepdb``."""
        return self.kind + (" --keepdb" if self.keepdb and not self.edit else "")

    def describe(self) -> str:
        what = " ".join(self.labels) or "the whole suite"
        flags = "".join(flag for flag, on in ((" --parallel 2", self.parallel), (" --keepdb", self.keepdb)) if on)
        edit = ", after editing the last tenant migration" if self.edit else ""
        return f"{what}{flags}{edit}"


def setup_cases(shape: SetupShape, kinds: tuple[str, ...] | list[str] = CASE_KINDS) -> list[SetupCase]:
    """Return the cases of ``kinds``: each fresh, then each with ``--keepdb``, then the edited migration."""
    first_class = next(spec for spec in test_class_specs(shape) if spec.alias == "default")
    tenants_label = f"{TENANT_APP}.tests.{TENANT_CLASS}"
    runs = {
        "one-class": SetupCase("one-class", (f"{first_class.app}.tests.{first_class.name}",), TESTS_PER_CLASS),
        "tenants": SetupCase("tenants", (tenants_label,), TENANT_TESTS),
        "suite": SetupCase("suite", (), shape.test_count),
        "suite-parallel": SetupCase("suite-parallel", (), shape.test_count, parallel=True),
    }
    cases = [runs[kind] for kind in kinds if kind in runs]
    cases += [SetupCase(case.kind, case.labels, case.test_count, case.parallel, keepdb=True) for case in list(cases)]
    if "edited-migration" in kinds:
        cases.append(SetupCase("edited-migration", (tenants_label,), TENANT_TESTS, keepdb=True, edit=True))
    return cases
