"""Ingest: raw tables -> validated canonical Parquet, quarantine, quality report, time split.

``job.run`` is the single entry point (the CLI and the kfp component call it); downstream stages
read the output through ``layout.read_table``. With a key (``privacy.load_key``) user ids come
out as keyed pseudonyms; ``privacy.pseudonymize(ids, key)`` maps raw ids known elsewhere (the
generator's ``_truth``) onto them.
"""
