"""Reliability engineering: upset rates from an environment, AVF from single-fault injection, FIT per policy."""
