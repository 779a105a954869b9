"""Batch export of embeddings: sharded Parquet/npy files with a manifest, resumable."""

from mmgraph.export.embeddings import export_embeddings, read_embeddings, run_embeddings

__all__ = ["export_embeddings", "read_embeddings", "run_embeddings"]
