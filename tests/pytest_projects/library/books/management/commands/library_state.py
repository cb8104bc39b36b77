"""
Seed the real databases, report their rows and the test databases left over, or drop them.

``library_state seed``: create the real databases (servers), migrate them,
create the legacy table, and put one row in each. ``library_state report``
prints JSON: the rows of each real database and the test databases (or
SQLite files) that exist. ``library_state drop``: drop the real databases.
"""

import json
from pathlib import Path

from archive.models import Record
from django.conf import settings
from django.core.management import BaseCommand, call_command
from django.db import connections

from books.models import Book, Review

REAL = ("default", "other", "legacy")


def create_server_database(alias):
    connection = connections[alias]
    name = connection.settings_dict["NAME"]
    with connection._nodb_cursor() as cursor:
        quoted = connection.ops.quote_name(name)
        if connection.vendor == "postgresql":
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if not cursor.fetchone():
                cursor.execute(f"CREATE DATABASE {quoted}")
        else:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS {quoted}")


def drop_server_database(alias):
    connection = connections[alias]
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(connection.settings_dict['NAME'])}")


def leftovers():
    connection = connections["default"]
    if connection.vendor == "sqlite":
        folder = Path(settings.DB_DIR)
        return sorted(path.name for path in folder.iterdir() if path.name.startswith("test_") or path.suffix == ".lock")
    from multidb_runner.setup.catalog import databases_like

    return sorted(databases_like(connection, f"test\\_{settings.PREFIX}\\_%") or [])


class Command(BaseCommand):
    # Django 6.1's model checks ask the server about the databases, which
    # "seed" is about to create.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["seed", "report", "drop"])

    def handle(self, action, **options):
        server = connections["default"].vendor != "sqlite"
        if action == "seed":
            for alias in REAL:
                if server:
                    create_server_database(alias)
            call_command("migrate", database="default", verbosity=0)
            call_command("migrate", database="other", verbosity=0)
            with connections["legacy"].schema_editor() as editor:
                if Record._meta.db_table not in connections["legacy"].introspection.table_names():
                    editor.create_model(Record)
            Book.objects.using("default").get_or_create(title="Real book")
            Review.objects.using("other").get_or_create(book_title="Real review")
            Record.objects.using("legacy").get_or_create(label="Real record")
        elif action == "report":
            report = {
                "rows": {
                    "default": list(Book.objects.using("default").values_list("title", flat=True)),
                    "other": list(Review.objects.using("other").values_list("book_title", flat=True)),
                    "legacy": list(Record.objects.using("legacy").values_list("label", flat=True)),
                },
                "leftovers": leftovers(),
            }
            self.stdout.write(json.dumps(report))
        elif server:
            for alias in REAL:
                drop_server_database(alias)
