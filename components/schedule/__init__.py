"""Nightly recurring runs of the compiled pipeline on a Kubeflow Pipelines host.

``plan`` is pure (what to upload, which recurring runs to keep, create or delete); ``deploy`` is
the thin shell that asks a ``kfp.Client`` what exists and sends the requests ``plan`` decides on.
"""
