"""Input tables, id maps, and the seeded train/valid/test split."""

from mmgraph.data.ids import IdMap
from mmgraph.data.split import deduplicate, split_description, split_interactions
from mmgraph.data.tables import load_interactions, load_items, read_table
from mmgraph.data.user_items import UserItems

__all__ = ["IdMap", "UserItems", "deduplicate", "split_interactions", "split_description",
           "load_interactions", "load_items", "read_table"]
