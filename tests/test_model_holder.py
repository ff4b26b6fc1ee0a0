"""LoadOnce: a model loads once however many threads ask, and a model that is not available here
is remembered as such (not tried again for every video)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from vidsearch.models.clip import ClipUnavailable, configured_clip
from vidsearch.models.holder import LoadOnce
from vidsearch.models.resolve import Unavailable
from vidsearch.models.tagger import TaggerUnavailable


class CountingLoader:
    """A real loader (builds an array) that counts its runs and is slow enough for threads to meet."""

    def __init__(self, fail_with: Exception | None = None, delay: float = 0.2):
        self.calls = 0
        self.fail_with = fail_with
        self.delay = delay
        self.started = threading.Event()

    def __call__(self) -> np.ndarray:
        self.calls += 1
        self.started.set()
        time.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        return np.arange(4, dtype=np.float32)


def test_two_threads_asking_at_once_load_it_once_and_share_it():
    loader = CountingLoader()
    holder = LoadOnce(loader)
    assert not holder.loaded and holder.error is None
    got: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: got.append(holder.get())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.calls == 1
    assert len(got) == 2 and got[0] is got[1]
    assert holder.loaded and holder.get() is got[0] and loader.calls == 1


def test_an_unavailable_model_is_remembered_raised_again_or_none():
    loader = CountingLoader(fail_with=TaggerUnavailable("weights missing at /nowhere"), delay=0)
    noted: list[Unavailable] = []
    holder = LoadOnce(loader, on_unavailable=noted.append)
    with pytest.raises(TaggerUnavailable, match="weights missing at /nowhere"):
        holder.get()
    with pytest.raises(TaggerUnavailable) as again:
        holder.get()
    assert holder.get(missing_ok=True) is None
    assert loader.calls == 1  # not tried again
    assert noted == [again.value] and holder.error is again.value and not holder.loaded


def test_an_unavailable_model_under_concurrent_first_use_fails_once():
    loader = CountingLoader(fail_with=TaggerUnavailable("no torchvision"))
    noted: list[Unavailable] = []
    holder = LoadOnce(loader, on_unavailable=noted.append)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(holder.get(missing_ok=True))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [None, None, None] and loader.calls == 1 and len(noted) == 1


def test_other_errors_are_not_remembered():
    """A bad input of the moment (not an Unavailable) fails that call only; the next one loads."""
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("rules file changed under us")
        return "model"

    holder = LoadOnce(flaky)
    with pytest.raises(ValueError):
        holder.get()
    assert holder.error is None and not holder.loaded
    assert holder.get(missing_ok=True) == "model" and len(attempts) == 2


def test_a_loader_may_say_not_configured_with_none():
    holder: LoadOnce[str | None] = LoadOnce(lambda: None)
    assert holder.get() is None and holder.loaded and holder.error is None


def test_holders_sharing_a_lock_do_not_load_at_the_same_time():
    lock = threading.RLock()
    first, second = CountingLoader(delay=0.3), CountingLoader(delay=0)
    a, b = LoadOnce(first, lock=lock), LoadOnce(second, lock=lock)
    order: list[str] = []
    ta = threading.Thread(target=lambda: (a.get(), order.append("a")))
    ta.start()
    assert first.started.wait(5)
    b.get()  # waits for a's load to end
    order.append("b")
    ta.join()
    assert order == ["a", "b"]


def test_ready_holds_a_model_loaded_elsewhere():
    model = np.ones(3)
    holder = LoadOnce.ready(model)
    assert holder.loaded and holder.get() is model


def test_configured_clip_refuses_missing_weights_in_one_line(tmp_path):
    """The one way indexing and search load CLIP: missing weights are a ClipUnavailable, which a
    holder remembers (the visual channel is then off, with the reason noted once)."""
    noted: list[Unavailable] = []
    holder = LoadOnce(lambda: configured_clip(None, tmp_path / "missing.pt"), on_unavailable=noted.append)
    assert holder.get(missing_ok=True) is None and holder.get(missing_ok=True) is None
    assert len(noted) == 1 and isinstance(noted[0], ClipUnavailable)
    assert "missing.pt does not exist" in str(noted[0]) and "\n" not in str(noted[0])
