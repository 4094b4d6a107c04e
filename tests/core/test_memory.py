"""The collector pause: off while a piece of work runs, nested across threads, and left as it was found."""

from __future__ import annotations

import gc
import threading

from core.memory import collector_paused


def test_the_collector_is_off_inside_and_back_on_after_even_when_the_work_fails():
    assert gc.isenabled()
    try:
        with collector_paused():
            assert not gc.isenabled()
            raise ValueError("the work failed")
    except ValueError:
        pass
    assert gc.isenabled()


def test_the_last_of_several_threads_out_turns_it_back_on():
    inside, leave = threading.Barrier(3), threading.Event()
    seen = []

    def work():
        with collector_paused():
            inside.wait()
            leave.wait()
            seen.append(gc.isenabled())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert not gc.isenabled()
    with collector_paused():   # a third, nested in the others, leaves it off when it ends first
        pass
    assert not gc.isenabled()
    leave.set()
    for t in threads:
        t.join()
    assert seen == [False, False] and gc.isenabled()


def test_a_collector_turned_off_before_stays_off():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
