"""``multidb_runner.output``: a standard stream whose reader is gone, on a real pipe."""

import os
import sys

from django.test import SimpleTestCase

from multidb_runner.output import OUTPUT_CLOSED_STATUS, RunOutput, reader_gone


class ClosedPipeTests(SimpleTestCase):
    def pipe_without_reader(self):
        read_end, write_end = os.pipe()
        os.close(read_end)
        stream = os.fdopen(write_end, "w")
        self.addCleanup(stream.close)
        return stream

    def test_writes_inside_never_failing_go_to_devnull(self):
        stream = self.pipe_without_reader()
        self.assertTrue(reader_gone(stream))
        output = RunOutput()
        saved = sys.stderr
        sys.stderr = stream
        try:
            with output.never_failing():
                print("Destroying test database for alias 'default'...", file=sys.stderr, flush=True)
                print("and more", file=sys.stderr, flush=True)
            # From then on, the stream writes to os.devnull.
            print("after the cleanup", file=stream, flush=True)
        finally:
            sys.stderr = saved
        self.assertEqual(output.discarded, {stream.fileno()})
        self.assertFalse(reader_gone(stream))
        self.assertTrue(output.lost_reader())

    def test_a_stream_with_its_reader_is_left_alone(self):
        read_end, write_end = os.pipe()
        self.addCleanup(os.close, read_end)
        stream = os.fdopen(write_end, "w")
        self.addCleanup(stream.close)
        output = RunOutput()
        saved = sys.stdout
        sys.stdout = stream
        try:
            with output.never_failing():
                print("Database plan:", flush=True)
        finally:
            sys.stdout = saved
        self.assertEqual(os.read(read_end, 100), b"Database plan:\n")
        self.assertEqual(output.discarded, set())
        self.assertFalse(output.lost_reader())

    def test_error(self):
        output = RunOutput()
        output.discarded = {1, 2}
        error = output.error()
        self.assertEqual(error.returncode, OUTPUT_CLOSED_STATUS)
        self.assertIn("The reader of the test run's standard output and error went away", str(error))
