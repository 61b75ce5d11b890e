"""Item-item similarity shared by the peers (evaluate) and the model's co-visitation term (train).

Pure scipy: cosine similarity of sparse rows (items as their users, or as their words), each
item cut to its strongest neighbours. The item-kNN peer and the trained model's blend term read
the same definition, so "the model adds what item-kNN knows" means exactly that.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_neighbours(similarity: sp.spmatrix, neighbours: int) -> sp.csr_matrix:
    """Each row of ``similarity`` cut to its ``neighbours`` largest entries, diagonal removed."""
    s = sp.csr_matrix(similarity, dtype=np.float32)
    s.setdiag(0)
    s.eliminate_zeros()
    rows, cols, vals = [], [], []
    for r in range(s.shape[0]):
        lo, hi = s.indptr[r], s.indptr[r + 1]
        data, idx = s.data[lo:hi], s.indices[lo:hi]
        if hi - lo > neighbours:
            keep = np.argpartition(-data, neighbours - 1)[:neighbours]
            data, idx = data[keep], idx[keep]
        rows.append(np.full(len(idx), r))
        cols.append(idx)
        vals.append(data)
    if not rows:
        return sp.csr_matrix(s.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=s.shape
    )


def cosine_neighbours(vectors: sp.spmatrix, neighbours: int) -> sp.csr_matrix:
    """``[n, n]`` cosine similarity of the rows of ``vectors``, top ``neighbours`` per row."""
    v = sp.csr_matrix(vectors, dtype=np.float32)
    norms = np.sqrt(np.asarray(v.multiply(v).sum(axis=1)).ravel())
    v = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ v
    return top_neighbours(v @ v.T, neighbours)
