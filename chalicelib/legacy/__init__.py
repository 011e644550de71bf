"""Records written by the previous release (schema 1): how they read as sessions, their
upgrade in place (on first touch or by the backfill), and the backfill itself.

Everything schema 1 lives here. When the last schema-1 record is upgraded, this package goes
and the few lines that call into it (marked "schema 1" in store/ and services/) go with it.
"""
