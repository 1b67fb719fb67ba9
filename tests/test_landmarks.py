"""Landmarks on the real photos: every face found in stills, tracked and steady in video."""

import cv2
import numpy as np
import pytest

from mirror.align import AlignSpec, Alignment
from mirror.errors import MirrorError
from mirror.landmarks import Landmarker
from runtime_fixtures import FACES, PHOTOS, photo


@pytest.fixture(scope="module")
def stills():
    with Landmarker(max_faces=6, video=False) as lm:
        yield lm


@pytest.mark.parametrize("name", PHOTOS)
def test_every_face_found_in_stills(stills, name):
    image = photo(name)
    faces = stills(image)
    assert len(faces) == FACES[name]
    h, w = image.shape[:2]
    centres = np.array([f.xy.mean(0) for f in faces])
    assert ((centres >= 0) & (centres < (w, h))).all()
    for f in faces:
        assert f.points.shape == (478, 3)
        assert f.size() > 20
    # Distinct faces, not one face found twice.
    if len(faces) > 1:
        d = np.linalg.norm(centres[:, None] - centres[None], axis=2)
        assert d[~np.eye(len(faces), dtype=bool)].min() > 0.5 * min(f.size() for f in faces)


def test_face_cut_by_edge_has_landmarks_beyond_it(stills):
    faces = stills(photo("obama_partial_face.jpg"))
    assert len(faces) == 1 and faces[0].xy[:, 0].min() < 0


def test_max_faces_is_respected():
    with Landmarker(max_faces=2, video=False) as lm:
        assert len(lm(photo("sample1.jpg"))) == 2


def test_no_face_and_bad_frames(stills):
    assert stills(np.zeros((480, 640, 3), np.uint8)) == []
    with pytest.raises(MirrorError):
        stills(np.zeros((480, 640), np.uint8))


def still_scene() -> np.ndarray:
    """A 640x480 webcam-like frame around the face of obama.jpg."""
    face = cv2.resize(photo("obama.jpg"), (480, 600))[60:540]
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 80:560] = face
    return frame


def crop_corner_jitter(smooth: bool, frames: int = 50) -> float:
    """Mean frame-to-frame motion (px) of the crop's corners on a still face. No video of a still
    face exists here: the clip is one still repeated with synthetic sensor noise (sigma 6), which
    makes the raw landmarks tremble as a real webcam's do."""
    scene, rng = still_scene(), np.random.default_rng(0)
    n = AlignSpec().size
    corners, path = np.array([[0, 0], [n, 0], [0, n], [n, n]], float), []
    with Landmarker(video=True, smooth=smooth) as lm:
        for _ in range(frames):
            noisy = np.clip(scene + rng.normal(0, 6, scene.shape), 0, 255).astype(np.uint8)
            faces = lm(noisy)
            assert len(faces) == 1
            path.append(Alignment.from_landmarks(faces[0].points, AlignSpec()).to_frame(corners))
    path = np.array(path[10:])  # past the filter's start
    return float(np.linalg.norm(np.diff(path, axis=0), axis=2).mean())


def test_smoothing_steadies_the_crop_of_a_still_face():
    raw, smooth = crop_corner_jitter(False), crop_corner_jitter(True)
    assert raw > 0.3, "the synthetic noise should make raw landmarks jitter"
    assert smooth < 0.5
    assert smooth < raw / 3


def test_tracks_keep_their_ids_through_motion():
    """Synthetic motion (a still shifted a few pixels a frame): the face keeps one track id and
    the smoothed landmarks follow the shift."""
    scene = still_scene()
    with Landmarker(video=True) as lm:
        ids, xs = [], []
        for i in range(20):
            m = np.float32([[1, 0, 3 * i - 30], [0, 1, 0]])
            faces = lm(cv2.warpAffine(scene, m, (640, 480)))
            assert len(faces) == 1
            ids.append(faces[0].track)
            xs.append(faces[0].xy[:, 0].mean())
    assert len(set(ids)) == 1
    assert xs[-1] - xs[0] > 40


def test_detector_runs_only_to_find_faces():
    """Video: the detector runs while no face is tracked, then every DETECT_EVERY frames for
    newcomers, not on every frame with fewer than max_faces faces (as MediaPipe's own graph does)."""
    half = cv2.resize(still_scene(), (320, 240))
    one, two = np.zeros((480, 640, 3), np.uint8), np.zeros((480, 640, 3), np.uint8)
    one[120:360, :320] = half
    two[120:360, :320], two[120:360, 320:] = half, half
    with Landmarker(max_faces=4, video=True) as lm:
        asked, process = [], lm.mesh.process
        lm.mesh.process = lambda data: asked.append(data["detect"]) or process(data)
        counts = [len(lm(one if i < 13 else two)) for i in range(35)]
    assert [i for i, d in enumerate(asked) if d] == [0, 5, 10, 15, 20, 25, 30]
    assert counts[:13] == [1] * 13 and counts[15:] == [2] * 20, counts  # the newcomer, at the next look


def test_tracking_graph_gives_mediapipes_landmarks(monkeypatch):
    import mediapipe as mp

    frames = [cv2.warpAffine(still_scene(), np.float32([[1, 0, 2 * i], [0, 1, i]]), (640, 480)) for i in range(12)]
    stock = mp.solutions.face_mesh.FaceMesh(max_num_faces=4, refine_landmarks=True)
    monkeypatch.setattr(Landmarker, "FULL_RANGE", False)  # the stock graph's detector
    with Landmarker(max_faces=4, video=True, smooth=False) as lm, stock:
        for frame in frames:
            ours = lm(frame)[0].xy
            theirs = stock.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).multi_face_landmarks[0].landmark
            assert np.abs(ours - [(p.x * 640, p.y * 480) for p in theirs]).max() < 0.5


@pytest.mark.parametrize("size, height", [((640, 480), 0.07), ((1280, 720), 0.10)])
def test_video_finds_faces_as_small_as_stills_do(monkeypatch, size, height):
    """Obama's face at 7% (10% at 720p) of the frame height, brow to chin, on a grey frame: the
    short-range detector of MediaPipe's video graph never finds it (it needs 17% and 25%); the
    full-range one does, as stills do."""
    w, h = size
    image = photo("obama.jpg")
    with Landmarker(video=False) as lm:
        xy = lm(image)[0].xy
    s = height * h / np.ptp(xy[:, 1])
    centre = xy.min(0) + np.ptp(xy, axis=0) / 2
    m = np.float32([[s, 0, w / 2 - s * centre[0]], [0, s, h / 2 - s * centre[1]]])
    frame = cv2.warpAffine(image, m, size, dst=np.full((h, w, 3), 110, np.uint8), flags=cv2.INTER_AREA,
                           borderMode=cv2.BORDER_TRANSPARENT)
    found = {}
    for full_range in (False, True):
        monkeypatch.setattr(Landmarker, "FULL_RANGE", full_range)
        with Landmarker(max_faces=4, video=True) as video:
            found[full_range] = [len(video(frame)) for _ in range(3)]
    assert found == {False: [0, 0, 0], True: [1, 1, 1]}
