"""Tests of controlplane.store: one conformance suite for both backends, plus each one's own."""
