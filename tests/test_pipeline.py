"""The whole pipeline on the real photos, with the fixture models (a colour blob at the face centre:
redder for female / older, bluer for male / younger)."""

import cv2
import numpy as np
import pytest

from mirror import blend
from mirror.errors import MirrorError
from mirror.models import Registry
from mirror.overlay import OVERLAYS, Overlays
from mirror.pipeline import STAGES, Pipeline, Settings
from mirror.translate import Effect
from runtime_fixtures import FACES, PHOTOS, export_all, photo, redness


@pytest.fixture(scope="module")
def stills(registry):
    with Pipeline(registry, video=False, max_faces=6) as p:
        yield p


def run(pipeline, image, **effect):
    pipeline.settings = Settings(Effect(**effect))
    return pipeline(image)


def face_masks(result, shape) -> np.ndarray:
    """Union of the faces' masks in the frame: where the pipeline may change pixels."""
    union = np.zeros(shape[:2], np.float32)
    for r in result.faces:
        if r.box is None:
            continue
        x0, y0, x1, y1 = r.box
        mask = blend.face_mask(r.alignment.to_crop(r.face.points), r.alignment.spec.size)
        np.maximum(union[y0:y1, x0:x1], r.alignment.uncrop(mask, r.box), out=union[y0:y1, x0:x1])
    return union


@pytest.mark.parametrize("name", PHOTOS)
def test_each_face_transformed_and_nothing_else(stills, name):
    image = photo(name)
    result = run(stills, image, gender="female")
    out = result.image
    assert out.shape == image.shape and out.dtype == np.uint8
    assert len(result.faces) == FACES[name] and all(f.changed for f in result.faces)
    for f in result.faces:
        assert redness(out, f.alignment) - redness(image, f.alignment) > 8
    masks = face_masks(result, image.shape)
    changed = (out != image).any(2)
    assert not changed[masks == 0].any(), "pixels outside every face mask changed"
    assert changed[masks > 0.9].mean() > 0.5
    assert np.array_equal(image, photo(name)), "the input frame was modified"


def test_male_goes_the_other_way(stills):
    image = photo("astronaut.png")
    result = run(stills, image, gender="male")
    (f,) = result.faces
    assert redness(result.image, f.alignment) - redness(image, f.alignment) < -8


@pytest.mark.parametrize("female, way", [(0.9, -1), (0.1, +1)])
def test_swap_follows_the_classifier(tmp_path, female, way):
    image = photo("sample3.jpg")
    with Pipeline(Registry(export_all(tmp_path, female=female)), Settings(Effect("swap")), video=False) as p:
        result = p(image)
    assert len(result.faces) == 3
    for f in result.faces:
        assert f.female == pytest.approx(female)
        assert way * (redness(result.image, f.alignment) - redness(image, f.alignment)) > 8


def test_age_and_gender_both_run_in_order(stills, registry, monkeypatch):
    image = photo("sample1.jpg")
    calls = []
    for model in registry.models.values():
        monkeypatch.setattr(model, "run", lambda x, c=None, _m=model, _run=model.run: calls.append((_m.task, len(x))) or _run(x, c))
    older = run(stills, image, age=1.0)
    both = run(stills, image, gender="female", age=-0.5)
    assert calls == [("age", 3), ("gender", 3), ("age", 3)], "one batch per model, gender before age"
    for f in older.faces:
        assert redness(older.image, f.alignment) - redness(image, f.alignment) > 8
        # female (+0.5 blob) then younger (-0.5 blob) cancel out
        assert abs(redness(both.image, f.alignment) - redness(image, f.alignment)) < 4


def test_intensity_scales_the_change(stills):
    image = photo("obama.jpg")
    full = run(stills, image, gender="female")
    half = run(stills, image, gender="female", intensity=0.5)
    none = run(stills, image, gender="female", intensity=0.0)
    (f,) = full.faces
    d_full = redness(full.image, f.alignment) - redness(image, f.alignment)
    d_half = redness(half.image, f.alignment) - redness(image, f.alignment)
    assert 0.3 < d_half / d_full < 0.7
    assert np.array_equal(none.image, image)


def test_settings_change_between_frames(registry):
    image = photo("astronaut.png")
    with Pipeline(registry, Settings(Effect("female")), video=True) as p:
        first = p(image)
        p.settings.effect.gender = "male"
        second = p(image)
        p.settings.effect = Effect()
        third = p(image)
    (f,) = second.faces
    assert redness(first.image, f.alignment) > redness(image, f.alignment) > redness(second.image, f.alignment)
    assert np.array_equal(third.image, image) and not third.faces[0].changed


def test_grey_and_alpha_images_keep_their_layout(stills):
    bgr = photo("astronaut.png")
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    out = run(stills, grey, gender="female")
    assert out.image.shape == grey.shape and len(out.faces) == 1 and (out.image != grey).any()

    alpha = np.dstack([bgr, np.arange(bgr.shape[1], dtype=np.uint8)[None].repeat(bgr.shape[0], 0)])
    out = run(stills, alpha, gender="female")
    assert out.image.shape == alpha.shape and len(out.faces) == 1
    assert np.array_equal(out.image[..., 3], alpha[..., 3]) and (out.image[..., :3] != bgr).any()


def test_frames_without_faces_pass_untouched(stills):
    black = np.zeros((480, 640, 3), np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    for frame in (black, noise, photo("sample1.jpg")[:200, :300]):
        result = run(stills, frame, gender="female", age=0.5)
        assert result.faces == [] and np.array_equal(result.image, frame)


def test_tiny_face_does_not_crash(stills):
    face = cv2.resize(photo("obama.jpg"), (46, 58), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200:258, 300:346] = face
    result = run(stills, frame, gender="female")
    assert result.image.shape == frame.shape
    changed = (result.image != frame).any(2)
    assert not changed[face_masks(result, frame.shape) == 0].any()


def test_seamless_blend_stays_in_the_face(stills):
    image = photo("obama_partial_face.jpg")
    stills.settings = Settings(Effect("female"), blend="seamless")
    result = stills(image)
    (f,) = result.faces
    x0, y0, x1, y1 = f.box
    changed = (result.image != image).any(2)
    assert changed[y0:y1, x0:x1].any()
    changed[y0:y1, x0:x1] = False
    assert not changed.any()


def test_timings_and_overlay_hook(registry):
    seen = []
    with Pipeline(registry, Settings(Effect("female")), video=True) as p:
        p.overlays.append(lambda image, result: seen.append(len(result.faces)) or cv2.rectangle(image, (0, 0), (9, 9), (0, 255, 0), -1))
        result = p(photo("astronaut.png"))
    assert set(result.timings) == {*STAGES, "total"}
    assert all(v >= 0 for v in result.timings.values())
    assert result.timings["total"] >= sum(result.timings[s] for s in STAGES)
    assert seen == [1] and (result.image[:10, :10] == (0, 255, 0)).all()


def test_missing_model_and_bad_settings_are_errors(tmp_path, registry):
    with pytest.raises(MirrorError, match="no gender model"):
        Pipeline(Registry(tmp_path), Settings(Effect("female")), video=False)
    with pytest.raises(MirrorError, match="intensity"):
        Pipeline(registry, Settings(Effect("female", intensity=2)), video=False)
    with pytest.raises(MirrorError, match="blend"):
        Pipeline(registry, Settings(blend="poisson"), video=False)


# -- odd frames (docs/reliability.md) ------------------------------------------------------------

def odd_frames() -> dict[str, np.ndarray]:
    """Frames a camera or a folder can give, each with a face the pipeline may find or not."""
    face = photo("obama.jpg")
    h, w = face.shape[:2]
    tile = cv2.resize(photo("astronaut.png")[20:300, 110:390], (213, 240))
    crowd = np.vstack([np.hstack([tile if (i + j) % 2 else tile[:, ::-1] for i in range(3)]) for j in range(2)])
    tiny = np.full((480, 640, 3), 90, np.uint8)
    tiny[200:236, 300:329] = cv2.resize(face, (29, 36), interpolation=cv2.INTER_AREA)
    bgr = photo("astronaut.png")
    return {
        "crowd of 6 (max 4)": crowd,
        "cut by the edge": photo("obama_partial_face.jpg"),
        "tiny": tiny,
        "huge (70% of the width)": cv2.resize(face, None, fx=2, fy=2)[h // 2: h // 2 + 480, w // 2 - 80: w // 2 + 560],
        "overflowing": cv2.resize(face, None, fx=4, fy=4)[int(1.6 * h): int(1.6 * h) + 480, int(1.6 * w): int(1.6 * w) + 640],
        "rotated 90": cv2.rotate(face, cv2.ROTATE_90_CLOCKWISE),
        "rotated 180": cv2.rotate(face, cv2.ROTATE_180),
        "black": np.zeros((480, 640, 3), np.uint8),
        "grey": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
        "grey, one channel": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None],
        "BGRA": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "1x1": np.zeros((1, 1, 3), np.uint8),
        "2x3 grey": np.zeros((2, 3), np.uint8),
    }


@pytest.mark.parametrize("video", [False, True], ids=["stills", "video"])
def test_odd_frames_never_crash(registry, video):
    """Every overlay (make-up, debug view, the GUI's landmarks) on top of a gender and age change,
    on the frames above one after another: in video the tracker carries faces between them."""
    from mirror.gui import marks

    frames = odd_frames()
    with Pipeline(registry, Settings(Effect("swap", age=0.5)), video=video, max_faces=4) as pipeline:
        pipeline.overlays += [Overlays(OVERLAYS), marks.draw]
        for _ in range(2 if video else 1):
            for name, frame in frames.items():
                result = pipeline(frame)
                assert result.image.shape == frame.shape and result.image.dtype == np.uint8, name
                assert len(result.faces) <= 4, name
                if name == "crowd of 6 (max 4)":
                    assert len(result.faces) == 4
                if name in ("cut by the edge", "grey", "BGRA") and not video:
                    assert len(result.faces) == 1 and result.faces[0].changed, name


def test_frames_the_pipeline_cannot_take_are_one_line(registry):
    with Pipeline(registry, video=False) as pipeline:
        for frame, message in ((np.zeros((8, 8, 3), np.float32), "8-bit"), (np.zeros((8, 8, 2), np.uint8), "shape")):
            with pytest.raises(MirrorError, match=message):
                pipeline(frame)


def test_settings_and_overlays_go_in_per_call(registry):
    """A frame's settings and overlays are arguments: the pipeline's own defaults stay as they were,
    and the frame comes out as when the defaults are set to the same."""
    frame = photo("obama.jpg")
    with Pipeline(registry, video=False) as p:
        drawn = []
        got = p(frame, settings=Settings(Effect("female")), overlays=[lambda image, result: drawn.append(1)])
        assert drawn == [1] and got.faces[0].changed and got.effect == Effect("female")
        assert p.settings == Settings() and p.overlays == []
        p.settings = Settings(Effect("female"))
        assert np.array_equal(p(frame).image, got.image) and drawn == [1]
