"""Encoding throughput per modality on this CPU: items/s by batch size and thread count.

Text: all-MiniLM-L6-v2 on the 1,682 MovieLens-100K item texts of the quickstart template.
Image: EfficientNet-Lite0 on 64 JPEG files (real scikit-image photos, decoded and
preprocessed inside the measurement, as in a real run).
Audio: musicnn (MSD) on 32 real clips that pygame ships (music loops and sound effects,
0.3–7.1 s, read, resampled to 16 kHz and turned into log-mel windows inside the measurement).
The feature cache is bypassed.
Each cell is the median of ``--repeats`` runs, all in one process.

Usage: python bench/encode.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import tempfile
import time
from pathlib import Path

import skimage.data
import torch
from PIL import Image

from data_prep.movielens import prepare_ml100k
from encoders import AudioEncoder, HFTextEncoder, ImageEncoder, item_texts
from mmgraph.data import load_items

#: Real photos shipped with scikit-image (the stereo pair's left view is a street scene).
PHOTOS = (skimage.data.coffee, skimage.data.camera, skimage.data.rocket, skimage.data.astronaut,
          skimage.data.chelsea, skimage.data.immunohistochemistry,
          lambda: skimage.data.stereo_motorcycle()[0])


def items_per_second(encode, inputs: list, batch_size: int, repeats: int) -> float:
    encode(inputs[:batch_size])  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for start in range(0, len(inputs), batch_size):
            encode(inputs[start:start + batch_size])
        times.append(time.perf_counter() - started)
    return len(inputs) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="mmgraph-bench-encode-"))
    _, items_path = prepare_ml100k(workdir)
    texts = item_texts(load_items(items_path), "{title} ({year}). Genres: {genres}")
    paths = []
    for index in range(64):
        image = PHOTOS[index % len(PHOTOS)]()
        path = workdir / f"{index}.jpg"
        Image.fromarray(image).convert("RGB").save(path, quality=90)
        paths.append(path)
    sounds = Path(importlib.util.find_spec("pygame").submodule_search_locations[0]) / \
        "examples" / "data"
    clips = sorted(sounds.glob("*.wav"))
    clips = [clips[i % len(clips)] for i in range(32)]
    text_encoder = HFTextEncoder("sentence-transformers/all-MiniLM-L6-v2")
    image_encoder = ImageEncoder("efficientnet-lite0")
    audio_encoder = AudioEncoder("musicnn-MSD")
    cases = [("text (MiniLM-L6, 384-d)", text_encoder.encode, texts, (16, 64, 256)),
             ("image (EfficientNet-Lite0, 1280-d)", image_encoder.encode, paths, (1, 8, 32)),
             ("audio (musicnn MSD, 200-d)", audio_encoder.encode, clips, (1, 8))]
    threads = sorted({1, torch.get_num_threads()})
    print(f"{platform.machine()}, {torch.get_num_threads()} cores available, torch "
          f"{torch.__version__}; median of {args.repeats}\n")
    print("| modality | items | batch | " + " | ".join(f"{t} thread(s) items/s" for t in threads)
          + " |\n|---|---|---|" + "---|" * len(threads))
    for label, encode, inputs, batch_sizes in cases:
        for batch_size in batch_sizes:
            cells = []
            for count in threads:
                torch.set_num_threads(count)
                cells.append(f"{items_per_second(encode, inputs, batch_size, args.repeats):.1f}")
            print(f"| {label} | {len(inputs)} | {batch_size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
