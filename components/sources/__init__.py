"""Where raw data comes from: the synthetic shop generator and adapters for real public data.

Everything here writes the raw layout that ingest reads: ``<out>/<table>/part-NNNNN.<ext>``,
one folder per contract table; names starting with ``_`` (``_truth/``, ``_meta.json``) are ignored
by ingest.
"""
