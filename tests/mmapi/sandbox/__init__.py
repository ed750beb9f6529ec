"""Tests of `mmapi.sandbox`."""
