import pandas as pd


def test_prepare_ml100k_writes_the_real_tables(ml100k_tables):
    interactions, items = (pd.read_parquet(p) for p in ml100k_tables)
    assert interactions.shape == (100_000, 4)
    assert interactions["user_id"].nunique() == 943
    assert interactions.groupby("user_id").size().min() >= 20
    assert len(items) == 1682 and items["item_id"].is_unique
    toy_story = items.set_index("item_id").loc[1]
    assert (toy_story["title"], toy_story["year"]) == ("Toy Story", "1995")
    assert toy_story["genres"] == "Animation|Children's|Comedy"
