"""Train: a Keras two-tower retrieval model (TFRS) over transformed features, exported for serving."""
