"""Shared pytest set-up: the local Sheets API stand-in as a plugin (tests/standin/)."""

pytest_plugins = ["tests.standin.pytest_plugin"]
