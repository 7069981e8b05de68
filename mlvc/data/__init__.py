"""Data checks: schema and column statistics of tables (pyarrow, streamed), drift between versions."""
