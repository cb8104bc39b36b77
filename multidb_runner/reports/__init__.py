"""What the run reports: JUnit XML and durations (``results``), the usage report, coverage."""
