"""Unit tests of shard selection (pure logic)."""

import random
from unittest import TestCase

from multidb_runner.config import ConfigurationError
from multidb_runner.planning.sharding import Shard, assign_shards, auto_shard, parse_shard

CLASSES = [f"app{n % 3}.tests.Case{n}" for n in range(23)]


class ParseShardTests(TestCase):
    def test_valid(self):
        self.assertEqual(parse_shard("2/4", "--shard"), Shard(2, 4))
        self.assertEqual(parse_shard(" 1 / 1 ", "--shard"), Shard(1, 1))
        self.assertEqual(str(Shard(3, 5)), "3/5")

    def test_off_by_one_and_malformed(self):
        for value in ("0/3", "4/3", "3", "a/b", "1/0", "-1/3", ""):
            with self.subTest(value=value), self.assertRaisesRegex(ConfigurationError, r"use K/N with 1 <= K <= N"):
                parse_shard(value, "--shard")


class AutoShardTests(TestCase):
    def test_gitlab_is_one_based(self):
        self.assertEqual(auto_shard({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "3"}), Shard(1, 3))
        self.assertEqual(auto_shard({"CI_NODE_INDEX": "3", "CI_NODE_TOTAL": "3"}), Shard(3, 3))

    def test_circleci_is_zero_based(self):
        self.assertEqual(auto_shard({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "4"}), Shard(1, 4))
        self.assertEqual(auto_shard({"CIRCLE_NODE_INDEX": "3", "CIRCLE_NODE_TOTAL": "4"}), Shard(4, 4))

    def test_out_of_range_index(self):
        with self.assertRaises(ConfigurationError):
            auto_shard({"CIRCLE_NODE_INDEX": "4", "CIRCLE_NODE_TOTAL": "4"})
        with self.assertRaises(ConfigurationError):
            auto_shard({"CI_NODE_INDEX": "0", "CI_NODE_TOTAL": "4"})

    def test_no_ci(self):
        self.assertIsNone(auto_shard({}))


class AssignShardsTests(TestCase):
    def test_every_class_in_exactly_one_shard(self):
        for total in range(1, 8):
            with self.subTest(total=total):
                assignment = assign_shards(CLASSES, total)
                self.assertEqual(set(assignment), set(CLASSES))
                self.assertTrue(all(1 <= shard <= total for shard in assignment.values()))
                shards = [{c for c, s in assignment.items() if s == k} for k in range(1, total + 1)]
                self.assertEqual(set().union(*shards), set(CLASSES))
                self.assertEqual(sum(len(shard) for shard in shards), len(CLASSES))

    def test_balanced_by_class_count_without_durations(self):
        for total in (2, 3, 5, 23, 30):
            counts = [list(assign_shards(CLASSES, total).values()).count(k) for k in range(1, total + 1)]
            self.assertLessEqual(max(counts) - min(counts), 1, counts)

    def test_discovery_order_does_not_matter(self):
        shuffled = CLASSES[:]
        random.Random(7).shuffle(shuffled)
        self.assertEqual(assign_shards(shuffled, 4), assign_shards(CLASSES, 4))
        self.assertEqual(assign_shards(CLASSES + CLASSES[:3], 4), assign_shards(CLASSES, 4))

    def test_balanced_by_durations(self):
        durations = {"slow": 10.0, "a": 3.0, "b": 3.0, "c": 2.0, "d": 2.0}
        assignment = assign_shards(durations, 2, durations)
        loads = {k: sum(durations[c] for c, s in assignment.items() if s == k) for k in (1, 2)}
        self.assertEqual(loads, {1: 10.0, 2: 10.0})

    def test_unknown_classes_count_as_the_average(self):
        assignment = assign_shards(["slow", "fast", "new"], 2, {"slow": 4.0, "fast": 1.0, "gone": 9.0})
        # new counts 2.5, the average of slow and fast: slow alone, new with fast.
        self.assertEqual(assignment, {"slow": 1, "new": 2, "fast": 2})
