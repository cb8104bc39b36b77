"""
Write the set-up benchmark's project, and edit its last tenant migration.

The apps are plain Django, written as makemigrations and a developer would
write them: a chain of migrations per app, whose data migrations write rows
the canonical way (to ``schema_editor.connection.alias``, with
``bulk_create``), and a models.py that matches the last migration.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from project_writer import (
    copy_template,
    create_model_operation,
    migration_text,
    models_header,
    record_fields,
    record_model,
    shape_module,
    tests_module,
    write_app,
)
from setup_shape import (
    PRIMARY_APPS,
    SEED_MODEL,
    TENANT_APP,
    TENANT_CLASS,
    MigrationSpec,
    SetupShape,
    edited_rows,
    migration_specs,
    test_class_specs,
)
from shapes import TestClassSpec, model_name

#: The column the edited tenant migration adds to SEED_MODEL, as models.py and the migration spell it.
EDITED_FIELD = ("edited_note", "models.CharField(max_length=100, null=True)")
EXTRA_FIELD = "models.IntegerField(default=0)"


def write_setup_project(shape: SetupShape, directory: Path) -> Path:
    """Write the project of ``shape`` to ``directory`` (replacing it) and return its manage.py folder."""
    copy_template(directory, shape_module(PRIMARY_APPS, {}, shape.shared_schemas))
    specs_by_app: dict[str, list[TestClassSpec]] = defaultdict(list)
    for spec in test_class_specs(shape):
        specs_by_app[spec.app].append(spec)
    for app, alias in PRIMARY_APPS.items():
        migrations = migration_specs(shape, app)
        write_app(
            directory / app,
            models=models_module(migrations),
            migrations=migration_modules(migrations),
            tests=tests_module(alias, specs_by_app[app]),
        )
    migrations = migration_specs(shape, TENANT_APP)
    write_app(
        directory / TENANT_APP,
        models=models_module(migrations),
        migrations=migration_modules(migrations),
        tests=tenant_tests_module(shape, migrations),
    )
    return directory


def edit_tenant_migration(shape: SetupShape, directory: Path, edited: bool = True) -> None:
    """
    Edit the last tenant migration as a developer would, with models.py and the tests to match (or undo it).

    The edit adds a column to SEED_MODEL and a row to the data the migration
    writes, in the migration that a kept database has already applied: stock
    Django's ``--keepdb`` does not apply it again. Bytecode of the old files
    is removed, so that the next run cannot use it.
    """
    migrations = migration_specs(shape, TENANT_APP, edited=edited)
    app_dir = directory / TENANT_APP
    last_name, last_text = list(migration_modules(migrations).items())[-1]
    (app_dir / "migrations" / f"{last_name}.py").write_text(last_text)
    (app_dir / "models.py").write_text(models_module(migrations))
    (app_dir / "tests.py").write_text(tenant_tests_module(shape, migrations))
    for bytecode in app_dir.rglob("__pycache__"):
        for compiled in bytecode.iterdir():
            compiled.unlink()


def models_module(migrations: list[MigrationSpec]) -> str:
    """Return the models.py that the migrations leave: SEED_MODEL, then the records with their added fields."""
    extra_fields: dict[str, list[str]] = defaultdict(list)
    for spec in migrations:
        if spec.adds:
            model, field = spec.adds
            extra_fields[model].append(f"{field} = {EXTRA_FIELD}")
        if spec.edited:
            extra_fields[SEED_MODEL].append(f"{EDITED_FIELD[0]} = {EDITED_FIELD[1]}")
    records = [model for spec in migrations for model in spec.creates if model != SEED_MODEL]
    seed = "".join(f"\n    {line}" for line in ["name = models.CharField(max_length=100)", *extra_fields[SEED_MODEL]])
    return (
        models_header()
        + f"\n\nclass {SEED_MODEL}(models.Model):{seed}\n"
        + "".join(record_model(index, tuple(extra_fields[model_name(index)])) for index in range(len(records)))
    )


def migration_modules(migrations: list[MigrationSpec]) -> dict[str, str]:
    """Return the text of each migration by name, each depending on the one before it."""
    previous = [None, *(spec.name for spec in migrations)]
    return {spec.name: migration_module(spec, before) for spec, before in zip(migrations, previous, strict=False)}


def migration_module(spec: MigrationSpec, previous: str | None) -> str:
    """Return the migration of ``spec``: its schema operations, then its RunPython if it writes rows."""
    operations = []
    for model in spec.creates:
        if model == SEED_MODEL:
            fields = [
                '("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"))',
                '("name", models.CharField(max_length=100))',
            ]
        else:
            fields = record_fields(spec.app, int(model.removeprefix("Record")))
        operations.append(create_model_operation(model, fields))
    added = [spec.adds] if spec.adds else []
    added_fields = [(model.lower(), field, EXTRA_FIELD) for model, field in added]
    if spec.edited:
        added_fields.append((SEED_MODEL.lower(), *EDITED_FIELD))
    operations += [
        f'        migrations.AddField(model_name="{model}", name="{field}", field={definition}),\n'
        for model, field, definition in added_fields
    ]
    functions = ""
    if spec.seeds or spec.edited_rows:
        operations.append("        migrations.RunPython(write_seed_rows, migrations.RunPython.noop),\n")
        functions = (
            "def write_seed_rows(apps, schema_editor):\n"
            "    # As Django's documentation writes a data migration: on the database being migrated.\n"
            "    db_alias = schema_editor.connection.alias\n"
            f'    {SEED_MODEL} = apps.get_model("{spec.app}", "{SEED_MODEL}")\n'
            f"    {SEED_MODEL}.objects.using(db_alias).bulk_create(\n"
            f"        [{SEED_MODEL}(name=name) for name in {list(spec.seeds + spec.edited_rows)!r}]\n"
            "    )\n"
        )
    return migration_text(
        operations,
        initial=spec.number == 1,
        dependencies=[f'("{spec.app}", "{previous}")'] if previous else [],
        functions=functions,
    )


def tenant_tests_module(shape: SetupShape, migrations: list[MigrationSpec]) -> str:
    """Return the tenants app's tests.py: one TestCase using every tenant (declared in stock-exact only)."""
    return (
        f'"""Generated by benchmarks/setup_writer.py: one class using the {shape.tenants} tenants."""\n\n'
        "from django.test import TestCase\n\n"
        "from bench_suite import TenantWrites, uses\n\n"
        f"from .models import {model_name(0)}, {model_name(1)}, {SEED_MODEL}\n\n"
        f"TENANTS = {shape.tenant_aliases!r}\n\n\n"
        "@uses(*TENANTS)\n"
        f"class {TENANT_CLASS}(TenantWrites, TestCase):\n"
        "    tenant_aliases = TENANTS\n"
        f"    parent_model = {model_name(0)}\n"
        f"    child_model = {model_name(1)}\n"
        f"    seed_model = {SEED_MODEL}\n"
        f"    edited_rows = {edited_rows(migrations)!r}\n"
    )
