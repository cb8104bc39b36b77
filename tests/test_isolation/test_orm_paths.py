"""Writes through the ORM, fixtures, the mirror, the legacy alias and other threads."""

import threading

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connections, transaction
from django.test import TransactionTestCase

from tests.isolationapp.models import AuditEntry, Child, MixedCase, Parent, SpacedName, Tag
from tests.legacyapp.models import Customer, Region

from .support import NothingSurvivesMixin, ensure_first_flush_round

ALIASES = ("default", "other")


class OrmWriteTests(NothingSurvivesMixin, TransactionTestCase):
    def test_create_update_delete(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                parent = Parent.objects.using(alias).create(name="parent")
                Child.objects.using(alias).create(parent=parent, name="kept")
                doomed = Child.objects.using(alias).create(parent=parent, name="deleted")
                Parent.objects.using(alias).filter(pk=parent.pk).update(name="renamed")
                doomed.delete()
                self.assertEqual(
                    list(Child.objects.using(alias).values_list("parent__name", "name")), [("renamed", "kept")]
                )

    def test_save_get_or_create_update_or_create(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                tag = Tag(name="saved")
                tag.save(using=alias)
                Tag.objects.using(alias).get_or_create(name="got")
                Tag.objects.using(alias).update_or_create(name="saved", defaults={"uses": 3})
                MixedCase.objects.using(alias).get_or_create(label="mixed")
                self.assertEqual(
                    sorted(Tag.objects.using(alias).values_list("name", "uses")), [("got", 0), ("saved", 3)]
                )
                self.assertEqual(MixedCase.objects.using(alias).count(), 1)

    def test_bulk_create(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                Parent.objects.using(alias).bulk_create(Parent(name=f"bulk {n}") for n in range(3))
                MixedCase.objects.using(alias).bulk_create([MixedCase(label="a"), MixedCase(label="b")])
                SpacedName.objects.using(alias).bulk_create([SpacedName(label="c")])
                self.assertEqual(Parent.objects.using(alias).count(), 3)
                self.assertEqual(MixedCase.objects.using(alias).count(), 2)
                self.assertEqual(SpacedName.objects.using(alias).count(), 1)

    def test_bulk_create_upsert(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                Tag.objects.using(alias).create(name="existing", uses=1)
                options = {"update_conflicts": True, "update_fields": ["uses"]}
                if connections[alias].features.supports_update_conflicts_with_target:
                    options["unique_fields"] = ["name"]
                Tag.objects.using(alias).bulk_create([Tag(name="existing", uses=5), Tag(name="new", uses=2)], **options)
                self.assertEqual(dict(Tag.objects.using(alias).values_list("name", "uses")), {"existing": 5, "new": 2})

    def test_many_to_many(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                parent = Parent.objects.using(alias).create(name="tagged")
                first, second = (Tag.objects.using(alias).create(name=name) for name in ("first", "second"))
                parent.tags.add(first, second)
                parent.tags.remove(second)
                second.parents.add(parent)
                self.assertEqual(sorted(parent.tags.values_list("name", flat=True)), ["first", "second"])

    def test_atomic_blocks_committed_and_rolled_back(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                with transaction.atomic(using=alias):
                    Parent.objects.using(alias).create(name="committed")
                    with transaction.atomic(using=alias):
                        Parent.objects.using(alias).create(name="inner savepoint")
                with self.assertRaises(RuntimeError), transaction.atomic(using=alias):
                    Parent.objects.using(alias).create(name="rolled back")
                    raise RuntimeError
                self.assertEqual(
                    sorted(Parent.objects.using(alias).values_list("name", flat=True)),
                    ["committed", "inner savepoint"],
                )

    def test_loaddata(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                call_command("loaddata", "isolation_rows", database=alias, verbosity=0)
                parent = Parent.objects.using(alias).get()
                self.assertEqual(list(parent.tags.values_list("name", flat=True)), ["from fixture"])
                self.assertEqual(parent.children.get().name, "fixture child")
                self.assertEqual(MixedCase.objects.using(alias).count(), 1)
                self.assertEqual(SpacedName.objects.using(alias).count(), 1)
                # The fixture's Audited row fired the trigger.
                self.assertEqual(AuditEntry.objects.using(alias).count(), 1)

    def test_write_through_the_mirror(self):
        # replica2 is the suite's writable mirror (TEST['READ_ONLY'] = False).
        Parent.objects.using("replica2").create(name="through the replica")
        with connections["replica2"].cursor() as cursor:
            cursor.execute("INSERT INTO isolationapp_tag (name, uses) VALUES (%s, %s)", ["raw via replica", 0])
        self.assertEqual(Parent.objects.using("default").get().name, "through the replica")
        self.assertEqual(Tag.objects.using("default").get().name, "raw via replica")

    def test_write_through_a_mirror_of_the_mirror(self):
        Parent.objects.using("replica2").create(name="through the chain")
        self.assertEqual(Parent.objects.using("default").get().name, "through the chain")
        self.assertEqual(Parent.objects.using("replica").get().name, "through the chain")

    def test_legacy_tables(self):
        region = Region.objects.create(code="EU")
        customer = Customer.objects.create(name="ACME", region=region)
        customer.regions_served.add(region)
        with connections["legacy"].cursor() as cursor:
            cursor.execute("INSERT INTO legacy_region (code) VALUES (%s)", ["US"])
        self.assertEqual(sorted(Region.objects.using("legacy").values_list("code", flat=True)), ["EU", "US"])
        self.assertEqual(Customer.objects.using("legacy").get().regions_served.get(), region)


class RepopulatedTablesTests(NothingSurvivesMixin, TransactionTestCase):
    """Contenttypes and permissions come back exactly as after a stock flush."""

    def setUp(self):
        super().setUp()
        self.addCleanup(ContentType.objects.clear_cache)

    def test_orm_changes(self):
        for alias in ALIASES:
            with self.subTest(alias=alias):
                Permission.objects.using(alias).filter(codename__startswith="view_").delete()
                ContentType.objects.using(alias).filter(app_label="isolationapp", model="tag").delete()
                ContentType.objects.using(alias).create(app_label="isolationapp", model="ghost")
                group = Group.objects.using(alias).create(name="editors")
                group.permissions.add(Permission.objects.using(alias).filter(codename="add_parent").get())
                self.assertFalse(Permission.objects.using(alias).filter(codename__startswith="view_").exists())

    def test_content_types_alone(self):
        # Only django_content_type is written: the permissions that post_migrate
        # filled refer to it, so they are flushed with it (MySQL does not cascade).
        for alias in ALIASES:
            with self.subTest(alias=alias):
                ContentType.objects.using(alias).filter(app_label="isolationapp", model="tag").update(model="gone")
        expected = ["auth_permission", "django_content_type"]
        self.expect_flush(default=expected, other=expected)

    def test_raw_changes(self):
        for alias in ALIASES:
            with self.subTest(alias=alias), connections[alias].cursor() as cursor:
                cursor.execute(
                    "UPDATE django_content_type SET model = %s WHERE app_label = %s AND model = %s",
                    ["renamed", "isolationapp", "parent"],
                )
                cursor.execute("DELETE FROM auth_permission WHERE codename LIKE %s", ["change_%"])
                self.assertGreater(cursor.rowcount, 0)
                cursor.execute("SELECT COUNT(*) FROM django_content_type WHERE model = %s", ["renamed"])
                self.assertEqual(cursor.fetchone()[0], 1)


class OtherThreadTests(NothingSurvivesMixin, TransactionTestCase):
    def test_writes_from_another_thread(self):
        errors = []

        def write():
            try:
                for alias in ALIASES:
                    Parent.objects.using(alias).create(name=f"thread on {alias}")
                Tag.objects.using("replica2").create(name="thread via replica")
                # A chain of mirrors: filed under default, the chain's end (and flushed there).
                Child.objects.using("replica2").create(
                    parent=Parent.objects.using("default").get(name="thread on default"), name="via replica2"
                )
                Region.objects.create(code="TH")
                with connections["other"].cursor() as cursor:
                    table = connections["other"].ops.quote_name("IsoMixedCase")
                    cursor.execute(f"INSERT INTO {table} (label) VALUES (%s)", ["thread"])
            except Exception as exc:  # reported by the test thread
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=write)
        thread.start()
        thread.join()
        self.assertEqual(errors, [])
        self.assertEqual(Parent.objects.using("default").get().name, "thread on default")
        self.assertEqual(Parent.objects.using("other").get().name, "thread on other")
        self.assertEqual(Tag.objects.using("default").get().name, "thread via replica")
        self.assertEqual(Child.objects.using("default").get().name, "via replica2")
        self.assertEqual(Region.objects.get().code, "TH")
        self.assertEqual(MixedCase.objects.using("other").get().label, "thread")


class WrittenBeforeTheFirstTestTests(NothingSurvivesMixin, TransactionTestCase):
    """Rows a class writes in setUpClass are seen by its first test only, as with stock's flush."""

    tests_run = 0

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # setUp would do it otherwise, flushing the rows below before the
        # first test (any method name makes an instance to run it with).
        ensure_first_flush_round(cls("run"))
        Parent.objects.using("other").create(name="from setUpClass")
        Region.objects.create(code="SUC")

    def check_rows_from_setupclass(self):
        expected = 0 if type(self).tests_run else 1
        type(self).tests_run += 1
        self.assertEqual(Parent.objects.using("other").count(), expected)
        self.assertEqual(Region.objects.count(), expected)
        Tag.objects.using("other").create(name="test write")

    def test_1(self):
        self.check_rows_from_setupclass()

    def test_2(self):
        self.check_rows_from_setupclass()
