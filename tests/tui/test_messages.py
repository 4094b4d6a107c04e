"""Which queued updates Textual may drop: the screens read events from the session, but a state change must land."""

from __future__ import annotations

from tui.messages import BuildFinished, BuildProgress, JobUpdated


def test_an_events_only_job_update_gives_way_to_the_next_one_of_the_same_job():
    assert JobUpdated("local", "ftjob-1").can_replace(JobUpdated("local", "ftjob-1"))
    assert JobUpdated("local", "ftjob-1").can_replace(JobUpdated("local", "ftjob-1", {"status": "running"}))
    assert not JobUpdated("local", "ftjob-1").can_replace(JobUpdated("local", "ftjob-2"))


def test_a_job_state_change_is_never_dropped_for_an_events_only_update():
    changed = JobUpdated("local", "ftjob-1", {"status": "running"})
    assert not changed.can_replace(JobUpdated("local", "ftjob-1"))
    assert changed.can_replace(JobUpdated("local", "ftjob-1", {"status": "succeeded"}))


def test_build_progress_gives_way_to_newer_progress_but_not_to_the_outcome():
    assert BuildProgress("write", 1, 10).can_replace(BuildProgress("write", 2, 10))
    assert not BuildProgress("write", 1, 10).can_replace(BuildFinished(error="x"))


def test_job_messages_do_not_bubble_back_to_the_app_that_re_posts_them():
    assert JobUpdated.bubble is False
