"""Tests of mmapi.analytics."""
