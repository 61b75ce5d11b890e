"""Train: a Keras two-tower retrieval model (TFRS), exported for serving."""
