"""Privacy at ingest: keyed pseudonyms for user ids, PII scrubbed out of user-written text.

Pure: Arrow in, Arrow out (``load_key`` reads the one key file it is told about).

- Pseudonyms: ``u_`` + the first 20 hex digits (80 bits) of HMAC-SHA256(subkey, raw id), the
  subkey derived once from the secret key. The same key gives the same pseudonyms every night;
  another key gives unrelated ones; without the key they cannot be reversed or recomputed.
  Computed once per distinct id of a batch (dictionary-encode, hash the dictionary, take).
- Scrubbing: emails, URLs and phone numbers in the text columns users write (the ``Role.TEXT``
  columns of tables that carry a user id: review text, search queries) become ``<email>``,
  ``<url>``, ``<phone>``, with RE2 regexes run by Arrow over whole columns. Always on.
- Quarantine: with a key, the user-id fields of a quarantined row's raw JSON are pseudonymized
  and the raw ids are replaced in its detail; a raw row that is not a JSON object is withheld.
  The user-written text fields in it are scrubbed, key or not.

The key is held by ``PseudonymKey``, whose repr never shows it; nothing here logs or returns it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import pathlib
import re
from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.ingest.errors import IngestConfigError
from components.ingest.reasons import DETAIL_VALUE_CHARS
from schemas import Role, Table

KEY_ENV = "SHOPREC_PSEUDONYM_KEY"
KEY_FILE_ENV = "SHOPREC_PSEUDONYM_KEY_FILE"
# 16 bytes = 128 bits; `secrets.token_hex(32)` gives 64 characters.
MIN_KEY_BYTES = 16
PREFIX = "u_"
HEX_CHARS = 20
# Versioned context: a new scheme gets a new label, so old and new pseudonyms never mix.
_CONTEXT = b"shoprec/user_id/v1"
WITHHELD = "<raw text withheld: pseudonymization on>"
WITHHELD_VALUE = "<withheld>"

EMAIL, URL, PHONE = "email", "url", "phone"
SCRUB_KINDS = (URL, EMAIL, PHONE)  # applied in this order: a URL may hold an email or digits
PLACEHOLDER = {EMAIL: "<email>", URL: "<url>", PHONE: "<phone>"}
# RE2 (no look-around). URLs: a scheme or www., up to whitespace, not ending in punctuation.
_URL = r"""(?i)\b(?:(?:https?|ftp)://|www\.)[^\s<>"']*[^\s<>"'.,;:!?)\]]"""
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"
# Phones need a shape a price, date, rating or order number does not have: a leading "+"
# (international), 3-3-4 digits with separators or "(3) 3-4" (North America), a trunk "0" and
# separated groups (Europe), or a phone word right before 7-15 bare digits. Bare digit runs
# alone (order numbers) and 2-digit groups (dates) never match.
_PHONES = (
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,4}(?:[ .-]?\d{2,4}){1,4}\b",
    r"(?:\(\d{3}\) ?|\b\d{3}[ .-])\d{3}[ .-]\d{4}\b",
    r"\b0\d{2,4}[ /-]\d{3,4}[ -]?\d{2,4}\b",
)
_PHONE_WORD = r"(?i)\b(tel|phone|mobile|cell|call me|text me|whatsapp)([.:]?\s*)\+?\d{7,15}\b"
_PATTERNS = {URL: (_URL,), EMAIL: (_EMAIL,), PHONE: _PHONES}


class PrivacyConfigError(IngestConfigError):
    """The pseudonymization key is missing, unreadable or too short (never shows the key)."""


@dataclasses.dataclass(frozen=True)
class PseudonymKey:
    """A secret pseudonymization key; its repr and str never show it.

    Attributes:
        source: Where it came from (an env variable name or a file path), for logs.
    """

    secret: bytes = dataclasses.field(repr=False)
    source: str = "argument"

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise PrivacyConfigError(
                f"pseudonymization key from {self.source} is {len(self.secret)} bytes; at least "
                f"{MIN_KEY_BYTES} are required (e.g. python -c 'import secrets; "
                "print(secrets.token_hex(32))')"
            )

    def __str__(self) -> str:
        return repr(self)

    def subkey(self) -> bytes:
        """The HMAC key of user ids, derived from the secret and a versioned context."""
        return hmac.digest(self.secret, _CONTEXT, hashlib.sha256)


def load_key(
    environ: Mapping[str, str] = os.environ, *, key_file: str | None = None
) -> PseudonymKey | None:
    """The pseudonymization key, or None when none is configured.

    Looked up in order: ``key_file`` (the CLI flag), the file named by
    ``SHOPREC_PSEUDONYM_KEY_FILE`` (a mounted Kubernetes secret), ``SHOPREC_PSEUDONYM_KEY``.
    A file's content is the key, surrounding whitespace stripped.

    Raises:
        PrivacyConfigError: the file is missing or unreadable, or the key is too short.
    """
    path = key_file or environ.get(KEY_FILE_ENV) or None
    if path:
        source = "--pseudonym-key-file" if key_file else KEY_FILE_ENV
        try:
            secret = pathlib.Path(path).read_bytes().strip()
        except OSError as err:
            raise PrivacyConfigError(
                f"pseudonymization key file {path} (from {source}) cannot be read: {err.strerror}"
            ) from err
        return PseudonymKey(secret, source=f"{source} {path}")
    value = environ.get(KEY_ENV)
    if value:
        return PseudonymKey(value.strip().encode("utf-8"), source=KEY_ENV)
    return None


def pseudonymize(
    ids: pa.Array | pa.ChunkedArray | Iterable[str | None], key: PseudonymKey | bytes | str
) -> pa.Array:
    """Keyed pseudonyms of user ids, nulls kept (the function ingest applies to every user id).

    Use it to map raw ids known elsewhere (generator ground truth ``_truth/users.parquet``) onto
    the ids of a pseudonymized ingest output, with the same key.

    Args:
        ids: Raw ids, ``[n]`` (anything ``pa.array`` turns into strings).
        key: The key ingest ran with (a ``PseudonymKey``, or its bytes / text).

    Returns:
        ``[n]`` string array of ``u_`` + 20 hex digits.
    """
    if not isinstance(key, PseudonymKey):
        key = PseudonymKey(key.encode("utf-8") if isinstance(key, str) else bytes(key))
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    elif not isinstance(ids, pa.Array):
        ids = pa.array(list(ids), pa.string())
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)):
        ids = ids.cast(pa.string())
    encoded = ids.dictionary_encode()
    subkey = key.subkey()
    digest = hmac.digest
    n = HEX_CHARS // 2
    names = [
        PREFIX + digest(subkey, raw, hashlib.sha256)[:n].hex()
        for raw in encoded.dictionary.cast(pa.binary()).to_pylist()
    ]
    return pa.array(names, pa.string()).take(encoded.indices)


class Pseudonyms:
    """``pseudonymize`` with a memory: each distinct id is hashed with HMAC once per run.

    Valid rows only reference valid users, so after the users table every id of a batch is a
    look-up: its distinct values get a 64-bit process-local hash (Python ``hash``, as in
    ``dedup``), found by binary search in the sorted hashes of the ids seen so far and checked
    against the stored raw id (a collision falls back to the HMAC). Memory: the raw id, its
    pseudonym and 8 bytes per distinct valid user.
    """

    def __init__(self, key: PseudonymKey) -> None:
        self.key = key
        self._hashes = np.array([], dtype=np.uint64)
        self._raw = pa.array([], pa.string())
        self._names = pa.array([], pa.string())

    def __repr__(self) -> str:
        return f"Pseudonyms({len(self._raw)} ids)"

    def __call__(self, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """The pseudonyms of ``ids`` (``[n]`` strings, nulls kept), as ``pseudonymize``."""
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        encoded = ids.cast(pa.string()).dictionary_encode()
        distinct = encoded.dictionary
        hashes = np.fromiter(
            (hash(v) for v in distinct.to_pylist()), dtype=np.int64, count=len(distinct)
        ).view(np.uint64)
        pos, known = self._find(distinct, hashes)
        if not known.all():
            new = ~known & ~np.isin(hashes, self._hashes)
            fresh = distinct.filter(pa.array(new))
            self._remember(hashes[new], fresh, pseudonymize(fresh, self.key))
            pos, known = self._find(distinct, hashes)
        names = self._names.take(pa.array(pos))
        if not known.all():  # a 64-bit hash collision: hash those ids directly
            missing = np.flatnonzero(~known)
            direct = pseudonymize(distinct.take(pa.array(missing)), self.key).to_pylist()
            values = names.to_pylist()
            for i, name in zip(missing.tolist(), direct, strict=True):
                values[i] = name
            names = pa.array(values, pa.string())
        return names.take(encoded.indices)

    def _find(self, distinct: pa.Array, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the memory (clipped) and whether each distinct id is there."""
        if not len(self._hashes):
            return np.zeros(len(hashes), dtype=np.int64), np.zeros(len(hashes), dtype=bool)
        pos = np.minimum(np.searchsorted(self._hashes, hashes), len(self._hashes) - 1)
        known = self._hashes[pos] == hashes
        if known.any():
            same = pc.equal(self._raw.take(pa.array(pos)), distinct)
            known &= same.fill_null(False).to_numpy(zero_copy_only=False)
        return pos, known

    def _remember(self, hashes: np.ndarray, raw: pa.Array, names: pa.Array) -> None:
        all_hashes = np.concatenate([self._hashes, hashes])
        order = np.argsort(all_hashes, kind="stable")
        self._hashes = all_hashes[order]
        take = pa.array(order)
        self._raw = pa.concat_arrays([self._raw, raw]).take(take)
        self._names = pa.concat_arrays([self._names, names]).take(take)


def user_id_columns(table: Table) -> list[str]:
    """The columns of ``table`` holding user ids (pseudonymized with a key)."""
    return [c.name for c in table.by_role(Role.USER_ID)]


def scrub_columns(table: Table) -> list[str]:
    """The user-written text columns of ``table``: its text columns if it carries a user id."""
    if not table.by_role(Role.USER_ID):
        return []
    return [c.name for c in table.by_role(Role.TEXT)]


def scrub_text(text: pa.Array) -> tuple[pa.Array, dict[str, int]]:
    """Replace emails, URLs and phone numbers in a string array by placeholders.

    Returns:
        The scrubbed ``[n]`` array (nulls kept) and, per kind, how many rows had one.
    """
    counts = {}
    for kind in SCRUB_KINDS:
        hit = None
        for pattern in _PATTERNS[kind]:
            found = pc.match_substring_regex(text, pattern)
            hit = found if hit is None else pc.or_(hit, found)
            text = pc.replace_substring_regex(text, pattern, PLACEHOLDER[kind])
        if kind == PHONE:
            found = pc.match_substring_regex(text, _PHONE_WORD)
            hit = pc.or_(hit, found)
            text = pc.replace_substring_regex(text, _PHONE_WORD, r"\1\2" + PLACEHOLDER[PHONE])
        counts[kind] = int(pc.sum(hit.fill_null(False).cast(pa.int64())).as_py() or 0)
    return text, counts


def protect(
    valid: pa.Table, table: Table, pseudonyms: Pseudonyms | None
) -> tuple[pa.Table, dict[str, dict[str, int]]]:
    """Pseudonymize (with ``pseudonyms``, None = keep ids) and scrub a batch of valid rows.

    Returns:
        The batch, schema unchanged, and scrubbed rows per text column and kind.
    """
    counts: dict[str, dict[str, int]] = {}
    if pseudonyms is not None:
        for name in user_id_columns(table):
            i = valid.schema.get_field_index(name)
            valid = valid.set_column(i, valid.schema.field(i), pseudonyms(valid[name]))
    for name in scrub_columns(table):
        i = valid.schema.get_field_index(name)
        text, counts[name] = scrub_text(valid[name].combine_chunks())
        valid = valid.set_column(i, valid.schema.field(i), text)
    return valid, counts


def protect_records(records: pa.Table, table: Table, key: PseudonymKey | None) -> pa.Table:
    """Quarantine records of ``table`` with no raw user id (with a key) and no scrubbed PII.

    Raw rows are JSON objects: their user-id fields are pseudonymized (a value that is not a
    scalar is withheld) and their user-written text fields scrubbed. A raw row that is not a
    JSON object is withheld whole with a key, and scrubbed as text without one. Every raw user
    id of a row is replaced by its pseudonym in the row's detail message too.
    """
    ids = user_id_columns(table) if key is not None else []
    texts = scrub_columns(table)
    if not records.num_rows or not (ids or texts):
        return records
    raws = records["raw"].to_pylist()
    details = records["detail"].to_pylist()
    rows: list[dict | None] = [_json_object(r) for r in raws]
    # Text fields of every row (and unparsed rows without a key) scrubbed in one Arrow call.
    spots = [(i, n) for i, row in enumerate(rows) if row for n in texts if _is_text(row.get(n))]
    loose = [i for i, row in enumerate(rows) if row is None and raws[i] is not None]
    scrubbed = scrub_text(
        pa.array([rows[i][n] for i, n in spots] + [raws[i] for i in loose], pa.string())
    )[0].to_pylist()
    for (i, name), text in zip(spots, scrubbed, strict=False):
        rows[i][name] = text
    for i, text in zip(loose, scrubbed[len(spots) :], strict=True):
        raws[i] = WITHHELD if ids else text
    if ids:
        found = [
            (i, n, _id_text(row[n])) for i, row in enumerate(rows) if row for n in ids if n in row
        ]
        scalar = [f for f in found if f[2] is not None]
        names = pseudonymize([f[2] for f in scalar], key).to_pylist()
        seen: dict[int, dict[str, str]] = {}
        for (i, name, raw), pseudonym in zip(scalar, names, strict=True):
            rows[i][name] = pseudonym
            seen.setdefault(i, {})[raw] = pseudonym
        for i, name, raw in found:
            if raw is None and not _is_blank(rows[i][name]):
                rows[i][name] = WITHHELD_VALUE
        for i, mapping in seen.items():
            if details[i]:
                details[i] = _replace_ids(details[i], mapping)
    for i, row in enumerate(rows):
        if row is not None:
            raws[i] = json.dumps(row, ensure_ascii=False)
    for name, values in (("raw", raws), ("detail", details)):
        i = records.schema.get_field_index(name)
        records = records.set_column(i, records.schema.field(i), pa.array(values, pa.string()))
    return records


def _json_object(raw: str | None) -> dict | None:
    try:
        row = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _id_text(value: object) -> str | None:
    """A raw id value as the text ingest would hash; None for blanks, lists and objects."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None


def _replace_ids(detail: str, seen: Mapping[str, str]) -> str:
    """``detail`` with every raw id in ``seen`` (and its shortened repr) replaced as a token."""
    for raw in sorted(seen, key=len, reverse=True):
        shown = repr(raw)
        if len(shown) > DETAIL_VALUE_CHARS:  # reasons.show_value cuts long values with "..."
            detail = detail.replace(shown[: DETAIL_VALUE_CHARS - 3] + "...", repr(seen[raw]))
        detail = re.sub(rf"(?<!\w){re.escape(raw)}(?!\w)", seen[raw], detail)
    return detail
