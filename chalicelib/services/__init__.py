"""Use cases: start, poll, end, bill. Each takes a store (ports.Store) and a clock, nothing global."""
