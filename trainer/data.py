"""Data: reads face datasets, crops every face with the runtime's own alignment, caches the crops.

The cache is a folder with `crops.npy` (N x S x S x 3 uint8, RGB), `points.npy` (N x 478 x 2 float16,
landmarks in crop pixels), `corners.npy` (N x 4 x 2 float32, the source photo's corners in crop
pixels: beyond them the crop repeats the photo's border) and `labels.csv` (file, age, female,
split). Training reads it whole into memory: at 128 px all of UTKFace is about 1 GB.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mirror.align import Alignment, AlignSpec
from mirror.contract import normalise
from mirror.errors import MirrorError

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


@dataclass
class Item:
    path: Path
    age: float  # years; NaN when the dataset does not say
    female: float  # 1 female, 0 male; NaN when unknown


def read_utkface(root: Path) -> tuple[list[Item], Counter]:
    """UTKFace: labels from `labels.csv` when present (it marks duplicates and malformed names),
    else from the file names `{age}_{gender}_{race}_{datetime}.jpg`."""
    images = root / "images" if (root / "images").is_dir() else root
    dropped: Counter = Counter()
    items = []
    table = root / "labels.csv"
    if table.is_file():
        for row in csv.DictReader(open(table)):
            if row.get("parsed") != "1":
                dropped["malformed label"] += 1
            elif row.get("duplicate_of"):
                dropped["duplicate"] += 1
            else:
                items.append(Item(images / row["file"], float(row["age"]), float(row["gender"])))
        return items, dropped
    for path in sorted(images.iterdir()):
        parts = path.name.split("_")
        try:
            age, gender = int(parts[0]), int(parts[1])
            if gender not in (0, 1) or not 0 < age < 120:
                raise ValueError
        except (ValueError, IndexError):
            dropped["malformed label"] += 1
            continue
        items.append(Item(path, float(age), float(gender)))
    return items, dropped


def read_celeba(root: Path) -> tuple[list[Item], Counter]:
    """CelebA: `img_align_celeba/` and `list_attr_celeba.txt` (attributes Male and Young, +1/-1).
    CelebA has no ages: "Young" becomes 25 years and not young 55, enough for age groups."""
    attrs = root / "list_attr_celeba.txt"
    if not attrs.is_file():
        raise MirrorError(f"{root}: a CelebA folder needs list_attr_celeba.txt beside img_align_celeba/")
    lines = attrs.read_text().splitlines()
    names = lines[1].split()
    male, young = names.index("Male") + 1, names.index("Young") + 1
    items, dropped = [], Counter()
    for line in lines[2:]:
        cols = line.split()
        if len(cols) != len(names) + 1:
            dropped["malformed label"] += 1
            continue
        items.append(Item(root / "img_align_celeba" / cols[0], 25.0 if cols[young] == "1" else 55.0,
                          0.0 if cols[male] == "1" else 1.0))
    return items, dropped


def read_folders(root: Path) -> tuple[list[Item], Counter]:
    """Folder-per-domain: `root/male/*`, `root/female/*` (or any names: the first folder in sorted
    order is domain 0). Ages are unknown."""
    domains = sorted(d for d in root.iterdir() if d.is_dir())
    if not domains:
        raise MirrorError(f"{root}: no domain folders inside (expected e.g. male/ and female/)")
    items = [Item(p, float("nan"), float(i)) for i, d in enumerate(domains)
             for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_EXT]
    return items, Counter()


def dataset_kind(root: Path) -> str:
    """UTKFace, CelebA or folders (one per domain), by the folder's layout."""
    if not root.is_dir():
        raise MirrorError(f"{root}: no such dataset folder")
    if (root / "img_align_celeba").is_dir() or (root / "list_attr_celeba.txt").is_file():
        return "CelebA"
    if (root / "labels.csv").is_file() or any(_utk_name(p) for p in _first(root)):
        return "UTKFace"
    return "folders"


def read_dataset(root: Path) -> tuple[list[Item], Counter]:
    """Picks the reader by the folder's layout."""
    reader = {"CelebA": read_celeba, "UTKFace": read_utkface, "folders": read_folders}[dataset_kind(root)]
    items, dropped = reader(root)
    if not items:
        raise MirrorError(f"{root}: no labelled images found")
    return items, dropped


def _first(root: Path, n: int = 5):
    images = root / "images" if (root / "images").is_dir() else root
    return [p for _, p in zip(range(n), images.glob("*.jpg"))]


def _utk_name(path: Path) -> bool:
    parts = path.name.split("_")
    return len(parts) >= 4 and parts[0].isdigit() and parts[1] in ("0", "1")


def split_of(name: str, val_fraction: float) -> str:
    """Deterministic split by a hash of the file name: stable across machines and runs."""
    h = int(hashlib.md5(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def prepare(root: Path, out: Path, spec: AlignSpec, val_fraction: float = 0.1, limit: int | None = None) -> dict:
    """Aligns every face of the dataset at `root` into the cache at `out`; returns counts."""
    from mirror.landmarks import Landmarker

    if out.is_dir() and os.path.samefile(out, root):
        raise MirrorError(f"--out {out} is the dataset folder itself: its labels and images would be overwritten; "
                          "pick another folder")
    items, dropped = read_dataset(root)
    if limit:
        items = items[:limit]
    out.mkdir(parents=True, exist_ok=True)  # an --out that cannot be made fails now, not after the aligning
    crops, points, corners, rows, seen = [], [], [], [], set()
    with Landmarker(max_faces=1, video=False) as mesh:
        for item in tqdm(items, desc="align", unit="img"):
            data = item.path.read_bytes() if item.path.is_file() else b""
            digest = hashlib.md5(data).hexdigest()
            if digest in seen:
                dropped["duplicate"] += 1
                continue
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
            if image is None:
                dropped["unreadable"] += 1
                continue
            found = landmarks(mesh, image)
            if found is None:
                dropped["no face found"] += 1
                continue
            seen.add(digest)
            align = Alignment.from_landmarks(found, spec)
            crops.append(cv2.cvtColor(align.crop(image), cv2.COLOR_BGR2RGB))
            points.append(align.to_crop(found).astype(np.float16))
            h, w = image.shape[:2]
            corners.append(align.to_crop(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64) - 0.5).astype(np.float32))
            rows.append({"file": item.path.name, "age": item.age, "female": item.female,
                         "split": split_of(item.path.name, val_fraction)})
    if not rows:
        raise MirrorError(f"{root}: no face could be aligned in {len(items)} images")
    _save_npy(out / "crops.npy", np.stack(crops))
    _save_npy(out / "points.npy", np.stack(points))
    _save_npy(out / "corners.npy", np.stack(corners))
    tmp = out / "labels.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "labels.csv")
    summary = {"source": str(root), "dataset": dataset_kind(root), "align": spec.to_dict(), "kept": len(rows),
               "train": sum(r["split"] == "train" for r in rows), "val": sum(r["split"] == "val" for r in rows),
               "dropped": dict(dropped)}
    (out / "prepare.json").write_text(json.dumps(summary, indent=2))
    return summary


def landmarks(mesh, image: np.ndarray) -> np.ndarray | None:
    """The landmarks of the image's face, in its pixels. Face datasets crop tight (a UTKFace face
    fills its image) and the face detector misses faces that touch the borders: it looks at the
    image padded by half its size on every side (the border repeated), 32 of 32 faces found
    instead of 9 in a UTKFace sample."""
    pad = max(image.shape[:2]) // 2
    faces = mesh(cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE))
    if not faces:
        return None
    points = faces[0].points.copy()
    points[:, :2] -= pad
    return points


def photo_area(corners: np.ndarray, side: int) -> np.ndarray:
    """(side, side) float32: 1 on the source photo's own pixels (`corners` in crop pixels), 0 where
    the crop only repeats the photo's border (a UTKFace chip ends at the hairline), with a pixel
    of the blended edge left out."""
    area = np.zeros((side, side), np.uint8)
    cv2.fillConvexPoly(area, np.round(corners * 16).astype(np.int32), 1, cv2.LINE_8, 4)
    return cv2.erode(area, np.ones((3, 3), np.uint8)).astype(np.float32)


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def read_labels(cache: Path) -> list[dict]:
    """The rows of a prepared cache's labels.csv (file, age, female, split)."""
    if not (Path(cache) / "labels.csv").is_file():
        raise MirrorError(f"{cache}: not a prepared dataset (run 'mirror-train prepare' first)")
    return list(csv.DictReader(open(Path(cache) / "labels.csv")))


def describe(cache: Path) -> str:
    """What a cache holds, for model cards: e.g. "UTKFace, 19643 train faces"."""
    info = json.loads((Path(cache) / "prepare.json").read_text())
    source = info.get("source", "")
    kind = info.get("dataset") or ("UTKFace" if "utk" in source.lower() else
                                   "CelebA" if "celeba" in source.lower() else Path(source).name)
    return f"{kind}, {info['train']} train faces"


def to_unit(crops: np.ndarray) -> torch.Tensor:
    """uint8 RGB crops (N, S, S, 3) -> NCHW float32 in [-1, 1], the models' scale (the contract's
    `normalise`, as a torch view in the crops' own NHWC memory, as training has always had it)."""
    return torch.from_numpy(normalise(crops, order="C")).permute(0, 3, 1, 2)


def fit_size(x: torch.Tensor, size: int) -> torch.Tensor:
    """Crops at another size than the model's: resampled with antialiasing, as in training."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


class FaceSet:
    """A prepared cache in memory: crops, labels and landmarks of one split."""

    def __init__(self, cache: Path, split: str | None = "train"):
        cache = Path(cache)
        rows = read_labels(cache)
        keep = np.array([split is None or r["split"] == split for r in rows])
        if not keep.any():
            raise MirrorError(f"{cache}: the '{split}' split is empty")
        self.crops = np.load(cache / "crops.npy", mmap_mode="r")[keep]
        self.points = np.load(cache / "points.npy", mmap_mode="r")[keep]
        # Caches prepared before corners were kept have none: --real-inside asks to prepare again.
        self.corners = np.load(cache / "corners.npy")[keep] if (cache / "corners.npy").is_file() else None
        self.files = [r["file"] for r, k in zip(rows, keep) if k]
        self.age = np.array([float(r["age"]) for r, k in zip(rows, keep) if k], dtype=np.float32)
        self.female = np.array([float(r["female"]) for r, k in zip(rows, keep) if k], dtype=np.float32)
        self.spec = AlignSpec.from_dict(json.loads((cache / "prepare.json").read_text())["align"])

    def __len__(self) -> int:
        return len(self.files)
