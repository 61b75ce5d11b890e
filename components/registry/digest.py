"""What identifies a model: the bytes that define what it computes, not the run that made it.

Evaluate writes this digest into the blessing, push checks it and records it in the version's
manifest, and push treats two models with the same digest as the same model (pushed twice: a
no-op, never a second version). So it must be stable across two identical nights and change
with anything that changes what the model serves:

- hashed: the SavedModel's weights (``serving/variables/``), its assets (vocabularies), the
  program the SavedModel runs (``graph_def_program_hash``, ``signature_def_hash`` and
  ``saved_object_graph_hash`` of its ``fingerprint.pb``: TensorFlow's hashes of the graph with
  function names regularized, of the serving signatures and of the object graph), and the
  training settings (``config`` of the train manifest);
- not hashed: ``fingerprint.pb``'s other fields (a random UUID, a checksum of the raw
  ``saved_model.pb`` whose bytes carry run-specific names), the raw ``saved_model.pb``, logs,
  checkpoints, the BackupAndRestore state, the per-epoch history (timings) and the train
  manifest's timings, and the embedding files (derived from the weights).

A SavedModel without a fingerprint (written by something else than ``tf.saved_model.save``)
falls back to the raw ``saved_model.pb`` bytes. Measured: two trainings of the tiny shop from
two transforms of the same data (other directories) differ in ``saved_model.pb``, the
fingerprint's UUID and checksum, the logs and the manifests, and agree on everything hashed.
"""

from __future__ import annotations

import hashlib
import json
import os

from components.registry import store as stores
from components.registry.errors import RegistryError

SERVING = "serving"
DEFINING_DIRS = (f"{SERVING}/variables/", f"{SERVING}/assets/")
GRAPH = f"{SERVING}/saved_model.pb"
FINGERPRINT = f"{SERVING}/fingerprint.pb"
TRAIN_MANIFEST = "manifest.json"
# FingerprintDef fields (tensorflow/core/protobuf/fingerprint.proto) that identify the program.
PROGRAM_FIELDS = {
    2: "graph_def_program_hash",
    3: "signature_def_hash",
    4: "saved_object_graph_hash",
}


class ModelUnreadable(RegistryError):
    """A model directory is missing or its defining files cannot be read."""


def model_digest(model_dir: str) -> str:
    """sha256 identifying the model in ``model_dir`` (see the module docstring for what counts).

    Raises:
        ModelUnreadable: ``model_dir`` is not a directory, or its fingerprint is unreadable.
    """
    if not os.path.isdir(model_dir):
        raise ModelUnreadable(f"{model_dir}: model directory does not exist")
    files = {rel: path for rel, path in stores.local_files(model_dir).items()}
    parts = {rel: stores.sha256_file(files[rel]) for rel in files if rel.startswith(DEFINING_DIRS)}
    if FINGERPRINT in files:
        parts[f"{FINGERPRINT}#program"] = json.dumps(_program_hashes(files[FINGERPRINT]))
    elif GRAPH in files:
        parts[GRAPH] = stores.sha256_file(files[GRAPH])
    config = _train_config(files.get(TRAIN_MANIFEST))
    if config is not None:
        parts[f"{TRAIN_MANIFEST}#config"] = config
    text = json.dumps(parts, sort_keys=True).encode()
    return hashlib.sha256(text).hexdigest()


def _program_hashes(path: str) -> dict[str, int]:
    """The program-identifying uint64 fields of a ``fingerprint.pb`` (a flat protobuf)."""
    with open(path, "rb") as f:
        data = f.read()
    out, at = {}, 0
    try:
        while at < len(data):
            key, at = _varint(data, at)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, at = _varint(data, at)
                if number in PROGRAM_FIELDS:
                    out[PROGRAM_FIELDS[number]] = value
            elif wire == 2:
                size, at = _varint(data, at)
                at += size
            else:
                raise ValueError(f"wire type {wire}")
    except (IndexError, ValueError) as e:
        raise ModelUnreadable(f"{path}: not a SavedModel fingerprint ({e})") from e
    return out


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def _train_config(path: str | None) -> str | None:
    """The training settings of a train manifest, canonical JSON (None when absent)."""
    if path is None:
        return None
    try:
        with open(path) as f:
            config = json.load(f).get("config")
    except (OSError, ValueError, AttributeError):
        return None
    return None if config is None else json.dumps(config, sort_keys=True)
