"""Shared test helpers: tiny models for exact gradient checks."""
