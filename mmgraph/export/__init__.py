"""Batch export of embeddings: sharded Parquet/npy files with a manifest, resumable, split
over ranks when several processes export."""

from mmgraph.export.embeddings import (export_embeddings, merge_export_manifests, read_embeddings,
                                       run_embeddings)

__all__ = ["export_embeddings", "merge_export_manifests", "read_embeddings", "run_embeddings"]
