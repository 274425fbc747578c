"""Checks against a running API: property-based requests from the OpenAPI document (`fuzz`) and a bounded load
that verifies every acknowledged message (`load`)."""
