"""The hand-over buffer: events merge into one update; the GUI takes it whole or gets None."""

from __future__ import annotations

import threading

import numpy as np

from nnstudio.training.config import TrainConfig
from nnstudio.training.events import (
    EpochEnded,
    EpochRecord,
    Finished,
    History,
    Notice,
    PauseChanged,
    Progress,
    StepPoints,
)
from nnstudio.training.relay import Relay


def _points(first: int, n: int) -> StepPoints:
    steps = np.arange(first, first + n, dtype=np.int64)
    values = np.linspace(1, 0, n).astype(np.float32)
    return StepPoints(steps, values, values, np.full(n, 0.5, np.float32))


def _progress(step: int, points: StepPoints) -> Progress:
    return Progress(
        epoch=1,
        epochs=2,
        step=step,
        total_steps=100,
        points=points,
        lr=0.1,
        samples_per_second=1000.0,
        elapsed=1.0,
        eta=1.0,
    )


def test_nothing_happened_means_no_update():
    relay = Relay()
    assert relay.take() is None
    relay.put(Notice("hello"))
    assert relay.take().notices == ["hello"]
    assert relay.take() is None  # taken once, gone


def test_many_reports_become_one_update_with_every_point_in_order_and_the_latest_progress():
    relay = Relay()
    for i in range(50):
        relay.put(_progress(10 * (i + 1), _points(10 * i + 1, 10)))
    record = EpochRecord(1, 0.5, 0.8, 0.6, 0.7, 0.1, 2.0)
    relay.put(EpochEnded(record, 2))
    relay.put(PauseChanged(True, 500))
    relay.put(PauseChanged(False, 500))
    update = relay.take()
    assert update.events == 53
    assert np.array_equal(update.points.steps, np.arange(1, 501))
    assert update.progress.step == 500 and len(update.progress.points) == 0  # points travel once
    assert update.epochs == [record]
    assert update.paused is False  # the latest state wins


def test_views_keep_only_their_newest_payload_and_the_final_event_arrives():
    relay = Relay()
    relay.put_view("filters", "old")
    relay.put_view("filters", "new")
    relay.put(Finished(History(), False, None, 1.0))
    update = relay.take()
    assert update.views == {"filters": "new"}
    assert isinstance(update.final, Finished)


def test_a_writer_thread_and_a_reader_lose_no_points():
    relay = Relay()
    taken: list[np.ndarray] = []

    def write():
        for i in range(2000):
            relay.put(_progress(i + 1, _points(i + 1, 1)))

    writer = threading.Thread(target=write)
    writer.start()
    while writer.is_alive():
        update = relay.take()
        if update is not None:
            taken.append(update.points.steps)
    writer.join()
    last = relay.take()
    if last is not None:
        taken.append(last.points.steps)
    assert np.array_equal(np.concatenate(taken), np.arange(1, 2001))


def test_an_update_can_carry_a_run_start(tmp_path):
    from nnstudio.training.events import RunStarted

    relay = Relay()
    relay.put(RunStarted(TrainConfig(), "cpu", "digits", "cross_entropy", 10, 100, 0, 0, History()))
    relay.put_carried("Kept the trained weights of all 2 layers: fc1, fc2.")
    update = relay.take()
    assert update.started.steps_per_epoch == 10
    assert update.carried.startswith("Kept")


def test_updates_a_run_process_merged_merge_as_their_events_would():
    # A run's process merges its events into updates (one message each); the window's relay
    # merges those updates, and the GUI must see what it would have seen from the events.
    direct, sender, window = Relay(), Relay(), Relay()
    record = EpochRecord(1, 0.5, 0.8, 0.6, 0.7, 0.1, 2.0)
    events = [
        *(_progress(10 * (i + 1), _points(10 * i + 1, 10)) for i in range(5)),
        EpochEnded(record, 2),
        Notice("a note"),
        PauseChanged(True, 50),
    ]
    for i, event in enumerate(events):
        for relay in (direct, sender):
            relay.put(event)
            relay.put_view("boundary", f"picture {i}")
        if i in (2, 6):  # the process sends what has gathered
            window.put_update(sender.take())
    window.put_update(sender.take())
    expected, got = direct.take(), window.take()
    assert got.events == expected.events == len(events)
    assert np.array_equal(got.points.steps, expected.points.steps)
    assert got.progress.step == expected.progress.step == 50 and got.paused is True
    assert got.epochs == [record] and got.notices == ["a note"]
    assert got.views == {"boundary": "picture 7"}
    assert window.take() is None
