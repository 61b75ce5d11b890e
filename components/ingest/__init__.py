"""Ingest: raw tables -> validated canonical Parquet, quarantine, quality report, time split.

``job.run`` is the single entry point (the CLI and the kfp component call it); downstream stages
read the output through ``layout.read_table``.
"""
