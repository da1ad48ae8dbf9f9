"""Unit tests of the dashboard web package."""
