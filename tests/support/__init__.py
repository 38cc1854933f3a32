"""Helpers shared by test suites: launchers for the real servers tests run against."""
