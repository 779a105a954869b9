r"""A multimodal demo dataset: real product images and real sound clips, simulated users.

**Media are real; interactions are simulated.** Images are fashion-MNIST product photos (Debian
package ``dataset-fashion-mnist``: 70,000 greyscale 28×28 images in 10 classes, Zalando
Research, MIT licence). Sound clips come from ``alsa-utils`` (spoken words),
``sound-theme-freedesktop`` (spoken words and system chimes) and pygame's examples (music and
sound effects). Interactions come from the seeded preference model below, so the ground truth
is known.

Items: ``num_items`` images drawn class-balanced from the fashion-MNIST training set (item id =
the image's index there). Attributes: ``label`` (the class); ``tone`` (``dark``/``light``: the
image's mean intensity against its class's median); for a random ``audio_fraction`` of items a
jingle, from a family (``voice``, ``chime``, ``effects``) drawn uniformly, then a clip of that
family. The text names the *department* of the class (tops, bottoms, dresses, outerwear,
footwear, bags: coarser than the class), the tone and a filler adjective drawn at random, so
text, image and audio each carry a different part of what users want:

- the class: the image alone (text only gives the department);
- the tone: the image and the text;
- the jingle family: the audio alone.

Users: each user ``u`` has class tastes :math:`\theta_u \sim \mathrm{Dirichlet}(\alpha)`, a
preferred tone and a preferred jingle family. Utility of item ``i``

.. math::
    s(u, i) = \log \theta_{u, label_i} + \beta_{tone} [tone_i = tone_u]
              + \beta_{audio} [family_i = family_u] + \log pop_i + g_{ui},

with :math:`pop_i \sim \mathrm{LogNormal}(0, \sigma_{pop})` and Gumbel noise :math:`g_{ui}`.
Each user takes the top :math:`n_u` items by :math:`s` (the Gumbel top-k trick: sampling without
replacement with probability ∝ :math:`\exp` of the noiseless utility),
:math:`n_u = n_{min} + \mathrm{Poisson}(\bar n)`.

New arrivals: a ``new_fraction`` of items are in the items table, but the choices of them go to
``new_arrivals.parquet`` instead of ``interactions.parquet``: a run sees them with content only
(cold start), and the held-out choices score how well it places them.
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from mmgraph.errors import DataError
from mmgraph.io import atomic_path, write_parquet

__all__ = ["FashionDemoOptions", "Preferences", "prepare_fashion_demo", "read_idx",
           "simulate_choices", "sound_clips", "CLASSES"]

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
DEPARTMENTS = ["tops", "bottoms", "tops", "dresses", "outerwear", "footwear", "tops", "footwear",
               "bags", "footwear"]
FILLERS = ["classic", "everyday", "new season", "bestselling", "limited", "essential"]
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
ALSA_DIR = Path("/usr/share/sounds/alsa")
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
PYGAME_SOUNDS = ["house_lo.wav", "secosmic_lo.wav", "boom.wav", "car_door.wav", "punch.wav",
                 "whiff.wav"]


class FashionDemoOptions(BaseModel):
    """``data.prepare_options`` for ``data.prepare: fashion-demo``."""

    model_config = ConfigDict(extra="forbid")

    num_items: int = Field(3000, ge=20, le=60000)
    num_users: int = Field(2000, ge=10)
    audio_fraction: float = Field(0.5, ge=0, le=1, description="Items that carry a jingle.")
    new_fraction: float = Field(0.1, ge=0, lt=1, description="Items held out as new arrivals.")
    min_interactions: int = Field(10, ge=1)
    mean_extra_interactions: float = Field(20.0, ge=0)
    class_concentration: float = Field(0.3, gt=0, description="Dirichlet α of class tastes.")
    tone_weight: float = Field(1.0, ge=0)
    audio_weight: float = Field(1.5, ge=0)
    popularity_sigma: float = Field(0.5, ge=0)
    seed: int = 2026
    images_dir: Path = FASHION_MNIST_DIR


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzipped, unsigned bytes) as an array, e.g. images ``[N, 28, 28]``."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as exc:
        raise DataError(f"{path} not found: fashion-MNIST comes from Debian's "
                        f"dataset-fashion-mnist package (apt-get install dataset-fashion-mnist), "
                        f"or set data.prepare_options.images_dir to a folder with the four "
                        f"*-idx*-ubyte.gz files.") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}); reinstall "
                        f"dataset-fashion-mnist.") from exc
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path} is not an IDX file of unsigned bytes (magic {raw[:4]!r}).")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * d:8 + 4 * d], "big") for d in range(ndim)]
    body = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated or corrupt: its header says {shape}, its body "
                        f"has {body.size} bytes; reinstall dataset-fashion-mnist.")
    return body.reshape(shape)


def sound_clips() -> dict[str, list[Path]]:
    """Real clips by family; raises a :class:`DataError` saying what to install if one is
    missing."""
    pygame = importlib.util.find_spec("pygame")
    pygame_dir = (Path(pygame.submodule_search_locations[0]) / "examples" / "data"
                  if pygame and pygame.submodule_search_locations else None)
    families = {
        "voice": sorted(p for p in ALSA_DIR.glob("*.wav") if p.stem != "Noise")
        + sorted(FREEDESKTOP_DIR.glob("audio-channel-*.oga")),
        "chime": sorted(p for p in FREEDESKTOP_DIR.glob("*.oga")
                        if not p.name.startswith(("audio-channel-", "audio-test-signal"))),
        "effects": [pygame_dir / n for n in PYGAME_SOUNDS
                    if pygame_dir and (pygame_dir / n).is_file()],
    }
    missing = [family for family, clips in families.items() if not clips]
    if missing:
        raise DataError(f"No {' or '.join(missing)} clips found. The demo's sounds come from "
                        f"packages: apt-get install alsa-utils sound-theme-freedesktop, and "
                        f"pip install pygame.")
    return families


def _choose_items(labels: np.ndarray, num_items: int, rng: np.random.Generator) -> np.ndarray:
    """Class-balanced sample of image indices, sorted."""
    per_class = np.array_split(np.arange(num_items), len(CLASSES))
    chosen = [rng.choice(np.flatnonzero(labels == c), size=len(part), replace=False)
              for c, part in enumerate(per_class)]
    return np.sort(np.concatenate(chosen))


def _items_table(indices: np.ndarray, images: np.ndarray, labels: np.ndarray,
                 clips: dict[str, list[Path]], opts: FashionDemoOptions,
                 rng: np.random.Generator) -> pd.DataFrame:
    label = labels[indices]
    brightness = images[indices].reshape(len(indices), -1).mean(1)
    class_median = np.array([np.median(brightness[label == c]) for c in range(len(CLASSES))])
    tone = np.where(brightness >= class_median[label], "light", "dark")
    families = sorted(clips)
    has_audio = rng.random(len(indices)) < opts.audio_fraction
    family = np.where(has_audio, np.array(families)[rng.integers(len(families),
                                                                  size=len(indices))], "")
    audio = [f"audio/{f}/{clips[f][rng.integers(len(clips[f]))].name}" if f else ""
             for f in family]
    filler = np.array(FILLERS)[rng.integers(len(FILLERS), size=len(indices))]
    department = np.array(DEPARTMENTS)[label]
    return pd.DataFrame({
        "item_id": indices.astype(np.int64),
        "description": [f"{a} {d}, {t} tone" for a, d, t in zip(filler, department, tone)],
        "department": department,
        "image": [f"images/{i}.png" for i in indices],
        "audio": audio,
        # Ground truth, for benchmarks and pictures; the demo config does not feed it to models.
        "label": label.astype(np.int64),
        "class_name": np.array(CLASSES)[label],
        "tone": tone,
        "jingle": family,
    })


@dataclass
class Preferences:
    """The simulated ground truth: ``tastes [U, classes]``, ``likes_light [U]``, ``favourite
    [U]`` (index into ``families``), ``log_popularity [I]`` (items table order)."""

    tastes: np.ndarray
    likes_light: np.ndarray
    favourite: np.ndarray
    families: list[str]
    log_popularity: np.ndarray

    def utility(self, users: np.ndarray, items: pd.DataFrame,
                weights: "FashionDemoOptions") -> np.ndarray:
        """Noise-free utility ``[len(users), len(items)]`` (the expected-best ranking)."""
        family = items["jingle"].map({f: k for k, f in enumerate(self.families)}).fillna(-1)
        light = (items["tone"].to_numpy() == "light")[None, :]
        return (np.log(self.tastes[users][:, items["label"].to_numpy()] + 1e-12)
                + self.log_popularity[None, :]
                + weights.tone_weight * (light == self.likes_light[users][:, None])
                + weights.audio_weight * (family.to_numpy()[None, :]
                                          == self.favourite[users][:, None]))

    def save(self, path: Path, items: pd.DataFrame) -> None:
        """Two tables: ``<path>.users.parquet`` and ``<path>.items.parquet``."""
        users = pd.DataFrame(self.tastes, columns=[f"taste_{c}" for c in range(len(CLASSES))])
        users.insert(0, "user_id", np.arange(len(users), dtype=np.int64))
        users["likes_light"] = self.likes_light
        users["favourite_jingle"] = np.array(self.families or [""])[self.favourite]
        write_parquet(path.with_suffix(".users.parquet"), users)
        write_parquet(path.with_suffix(".items.parquet"), pd.DataFrame(
            {"item_id": items["item_id"], "log_popularity": self.log_popularity}))

    @classmethod
    def load(cls, path: Path) -> "Preferences":
        users = pd.read_parquet(path.with_suffix(".users.parquet"))
        items = pd.read_parquet(path.with_suffix(".items.parquet"))
        families = sorted(f for f in users["favourite_jingle"].unique() if f)
        return cls(users[[f"taste_{c}" for c in range(len(CLASSES))]].to_numpy(),
                   users["likes_light"].to_numpy(),
                   users["favourite_jingle"].map({f: k for k, f in enumerate(families)})
                   .to_numpy(), families, items["log_popularity"].to_numpy())


def simulate_choices(items: pd.DataFrame, opts: FashionDemoOptions,
                     rng: np.random.Generator) -> tuple[pd.DataFrame, Preferences]:
    """Every user's chosen items under the module's preference model (``user_id, item_id``),
    and the drawn preferences."""
    num_items = len(items)
    families = sorted(f for f in items["jingle"].unique() if f)
    log_popularity = rng.normal(0.0, opts.popularity_sigma, num_items)
    tastes = rng.dirichlet(np.full(len(CLASSES), opts.class_concentration), opts.num_users)
    likes_light = rng.random(opts.num_users) < 0.5
    favourite = rng.integers(max(len(families), 1), size=opts.num_users)
    counts = np.minimum(opts.min_interactions + rng.poisson(opts.mean_extra_interactions,
                                                            opts.num_users), num_items)
    preferences = Preferences(tastes, likes_light, favourite, families, log_popularity)
    utility = preferences.utility(np.arange(opts.num_users), items, opts)
    users, chosen = [], []
    for user in range(opts.num_users):
        noisy = utility[user] + rng.gumbel(size=num_items)
        top = np.argpartition(-noisy, counts[user] - 1)[:counts[user]]
        users.append(np.full(len(top), user))
        chosen.append(top)
    rows = np.concatenate(chosen)
    return (pd.DataFrame({"user_id": np.concatenate(users).astype(np.int64),
                          "item_id": items["item_id"].to_numpy()[rows]}), preferences)


def _write_media(folder: Path, items: pd.DataFrame, images: np.ndarray,
                 clips: dict[str, list[Path]]) -> None:
    for index, relative in zip(items["item_id"], items["image"]):
        with atomic_path(folder / relative) as tmp:
            Image.fromarray(images[index]).save(tmp, format="PNG")
    for relative in sorted(set(items["audio"]) - {""}):
        family, name = Path(relative).parts[1:]
        source = next(p for p in clips[family] if p.name == name)
        with atomic_path(folder / relative) as tmp:
            shutil.copyfile(source, tmp)


def prepare_fashion_demo(out_dir: str | Path, **options) -> tuple[Path, Path]:
    """Write ``items.parquet``, ``interactions.parquet``, ``new_arrivals.parquet``, the media
    (``media/images/*.png``, ``media/audio/<family>/*``) and the simulated preferences
    (``truth.users.parquet``, ``truth.items.parquet``) into ``out_dir``; returns the paths of
    the interactions and items tables. ``options``: :class:`FashionDemoOptions` fields."""
    opts = FashionDemoOptions(**options)
    out = Path(out_dir)
    images = read_idx(opts.images_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(opts.images_dir / "train-labels-idx1-ubyte.gz")
    if len(images) != len(labels):
        raise DataError(f"{opts.images_dir}: {len(images)} images but {len(labels)} labels.")
    clips = sound_clips()
    rng = np.random.default_rng(opts.seed)
    indices = _choose_items(labels, opts.num_items, rng)
    items = _items_table(indices, images, labels, clips, opts, rng)
    choices, preferences = simulate_choices(items, opts, rng)
    new_ids = rng.choice(items["item_id"], size=int(round(opts.new_fraction * len(items))),
                         replace=False)
    is_new = choices["item_id"].isin(new_ids)
    _write_media(out / "media", items, images, clips)
    preferences.save(out / "truth", items)  # truth.users.parquet, truth.items.parquet
    items_path, inter_path = out / "items.parquet", out / "interactions.parquet"
    write_parquet(out / "new_arrivals.parquet", choices[is_new].reset_index(drop=True))
    write_parquet(items_path, items)
    write_parquet(inter_path, choices[~is_new].reset_index(drop=True))
    return inter_path, items_path
