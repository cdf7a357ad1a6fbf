"""Tests of phantomqc.ingest."""
