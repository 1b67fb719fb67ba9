"""Renders the before/after pictures of docs/overlays from the shared test photos:
`python docs/overlays/render.py` (from the repository root, with ../shared beside it).

Each picture is a face crop, the photo on the left and the overlay on the right, drawn at the size
the live app sees (a 640 px wide frame) with no generator: the overlays alone, at intensity 1."""

from pathlib import Path

import cv2
import numpy as np

from mirror.align import AlignSpec, Alignment
from mirror.landmarks import Landmarker
from mirror.overlay import DRIVER, OVERLAYS, Overlays
from mirror.pipeline import FaceResult, Result
from mirror.translate import Effect

HERE = Path(__file__).resolve().parent
MEDIA = HERE.parents[2] / "shared" / "test-media"
PANEL = 256
# Each driver on a face that shows it: make-up and ageing on a young woman, the rest on a man.
DRIVES = {"female": (Effect("female"), "female", "astronaut.png"),
          "male": (Effect("male"), "male", "obama.jpg"),
          "older": (Effect(None, age=1.0), None, "astronaut.png"),
          "younger": (Effect(None, age=-1.0), None, "obama.jpg")}


def load(name: str, width: int = 640) -> np.ndarray:
    image = cv2.imread(str(MEDIA / name))
    k = width / image.shape[1]
    return cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA) if k < 1 else image


def crop(image: np.ndarray, xy: np.ndarray, zoom: float = 1.0) -> np.ndarray:
    """A square around the face, with room for the hair, scaled to PANEL."""
    lo, hi = xy.min(0), xy.max(0)
    centre, half = (lo + hi) / 2 - (0, 0.1 * (hi - lo)[1]), 0.68 / zoom * (hi - lo).max()
    m = np.array([[PANEL / (2 * half), 0, 0], [0, PANEL / (2 * half), 0]])
    m[:, 2] = PANEL / 2 - m[:, :2] @ centre
    return cv2.warpAffine(image, m, (PANEL, PANEL), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def main() -> None:
    with Landmarker(max_faces=1, video=False) as landmarker:
        faces = {name: landmarker(load(name)) for name in {photo for *_, photo in DRIVES.values()}}
    for name in (*OVERLAYS, "female", "male", "older"):  # "younger" is smoothing alone
        drive = DRIVER.get(name, name if name in DRIVES else "female")
        effect, target, photo = DRIVES[drive]
        image, found = load(photo), faces[photo]
        out = image.copy()
        results = []
        for f in found:
            a = Alignment.from_landmarks(f.points, AlignSpec())
            results.append(FaceResult(f, a, a.box(image.shape), changed=True, target=target))
        Overlays({name} if name in OVERLAYS else set(OVERLAYS) - {"debug"})(out, Result(out, results, {}, effect))
        xy, zoom = found[0].xy, 0.8 if name == "debug" else 1.0
        cv2.imwrite(str(HERE / f"{name}.png"), np.hstack([crop(image, xy, zoom), crop(out, xy, zoom)]),
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()
