"""Transform: raw ingested tables -> training examples -> tensorflow-transform features."""
