"""Models for the isolation tests: one for each trap a selective flush can fall into."""
