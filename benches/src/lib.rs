//! Shared helpers for the KaosNet benchmarks.
