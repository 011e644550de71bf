"""Helpers shared by tests/ and bench/: a hand-moved clock, DynamoDB tables and seeding,
one API client in process or over HTTP, the local stage, injected faults, the race explorer,
schema-1 records, billing scenarios and an in-memory store.

Never shipped in the Lambda: Chalice packages only app.py and chalicelib/. Nothing in
chalicelib/ may import it; bench/ imports it (never tests/), and tests/ import it and bench/.
"""
