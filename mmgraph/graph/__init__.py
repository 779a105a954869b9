"""The user–item graph and item–item kNN graphs (FAISS), and their sparse adjacencies."""

from mmgraph.graph.adjacency import (BipartiteAdjacency, bipartite_adjacency, bipartite_spmm,
                                     item_adjacency, lightgcn_propagate, symmetric_spmm)
from mmgraph.graph.build import INTERACTS, SIMILAR, build_item_graph, load_graph, save_graph
from mmgraph.graph.knn import knn_graph

__all__ = ["knn_graph", "build_item_graph", "save_graph", "load_graph", "BipartiteAdjacency",
           "bipartite_adjacency", "bipartite_spmm", "item_adjacency", "lightgcn_propagate",
           "symmetric_spmm",
           "INTERACTS", "SIMILAR"]
