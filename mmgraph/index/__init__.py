"""FAISS retrieval over item embeddings."""

from mmgraph.index.retrieval import RetrievalIndex

__all__ = ["RetrievalIndex"]
