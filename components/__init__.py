"""Pipeline components: sources -> ingest -> transform -> train -> evaluate -> push -> report.

TensorFlow Recommenders 0.7 needs legacy Keras (tf_keras), which TensorFlow picks only when this
variable is set before it is first imported; every component imports this package first.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
