"""Benchmarks (`make bench`): csanalysis against hand-written pandas and DuckDB SQL on the same Parquet files."""
