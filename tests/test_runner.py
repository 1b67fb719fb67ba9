"""The two-stage runner: order, the bound on items taken ahead, errors from either stage, an early
stop; and the pipeline's halves giving what the whole gives."""

import threading
import time

import numpy as np
import pytest

from mirror.pipeline import Pipeline, Settings
from mirror.runner import overlap, serial
from mirror.translate import Effect
from runtime_fixtures import photo


def test_order_kept_and_stage_one_on_another_thread():
    threads = set()

    def first(x):
        threads.add(threading.current_thread().name)
        time.sleep(0.001 * (x % 3))  # uneven stage times must not reorder anything
        return x * 10

    out = list(overlap(range(50), first, lambda y: y + 1))
    assert out == [x * 10 + 1 for x in range(50)]
    assert threads == {"mirror-stage-one"}
    assert list(serial(range(5), lambda x: x * 10, lambda y: y + 1)) == [1, 11, 21, 31, 41]


@pytest.mark.parametrize("depth", [1, 3])
def test_items_taken_at_most_depth_ahead(depth):
    taken, finished, most = [], [], [0]

    def items():
        for i in range(30):
            taken.append(i)
            most[0] = max(most[0], len(taken) - len(finished))
            yield i

    def second(x):
        time.sleep(0.002)  # slower than stage one: stage one would run ahead if it could
        finished.append(x)
        return x

    assert list(overlap(items(), lambda x: x, second, depth=depth)) == list(range(30))
    # In flight: the one in `second` plus `depth` ahead.
    assert most[0] <= depth + 1


def test_errors_from_either_stage_reach_the_caller():
    def first(x):
        if x == 3:
            raise ValueError("bad frame")
        return x

    seen = []
    with pytest.raises(ValueError, match="bad frame"):
        for y in overlap(range(10), first, lambda x: x):
            seen.append(y)
    assert seen == [0, 1, 2]

    def broken():
        yield 1
        raise OSError("source gone")

    with pytest.raises(OSError, match="source gone"):
        list(overlap(broken(), lambda x: x, lambda x: x))
    with pytest.raises(KeyError):
        list(overlap(range(3), lambda x: x, lambda x: {}[x]))


def test_early_stop_ends_the_worker():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    before = threading.active_count()
    results = overlap(endless(), lambda x: x, lambda x: x)
    assert [next(results) for _ in range(5)] == [0, 1, 2, 3, 4]
    results.close()  # as a `break` out of a for loop does
    assert threading.active_count() == before


def test_halves_overlapped_give_what_the_whole_gives(registry):
    """Stills of one video-mode pipeline, overlapped, against the same through __call__."""
    frames = [photo(name) for name in ("astronaut.png", "obama.jpg", "biden.jpg")] * 2
    with Pipeline(registry, Settings(Effect("female")), video=False) as p:
        whole = [p(f).image for f in frames]
        halves = [r.image for r in overlap(frames, p.front, p.back)]
    assert all(np.array_equal(a, b) for a, b in zip(whole, halves))
    assert all((a != f).any() for a, f in zip(halves, frames)), "each face changed"


def test_settings_are_taken_when_a_frame_enters(registry):
    """A setting changed while a frame is between the halves applies from the next frame."""
    image = photo("astronaut.png")
    with Pipeline(registry, Settings(Effect("female")), video=True) as p:
        work = p.front(image)
        p.settings.effect.gender = None
        assert p.back(work).faces[0].changed
        assert not p(image).faces[0].changed


def test_a_new_scene_resets_each_half_in_its_turn(registry):
    """Another source while a frame is in `back`: tracks go in `front`, per-face votes in `back`."""
    image = photo("astronaut.png")
    with Pipeline(registry, Settings(Effect("swap")), video=True) as p:
        for _ in range(2):
            p(image)
        (old,) = p.translator.votes
        work = p.front(image, new_scene=True)
        assert old in p.translator.votes, "votes are back's: untouched until the frame gets there"
        (face,) = work.faces
        p.back(work)
        assert face.face.track != old and list(p.translator.votes) == [face.face.track]
