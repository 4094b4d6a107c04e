"""Typed messages the workers post; the app and the screens handle them with ``@on(...)``."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


# bubble=False: the app re-posts each update to the screens, and a screen's copy must not come back up
# (set again on every subclass: Textual sets bubble afresh on each)
@dataclass
class JobMessage(Message, bubble=False):
    """About one job: the backend's registry key and the job's id."""

    backend: str
    job_id: str


@dataclass
class JobUpdated(JobMessage, bubble=False):
    """A followed job has new events (already in the session's FollowedJob) and/or a new state (job)."""

    job: dict | None = None

    def can_replace(self, message: Message) -> bool:
        # Textual drops this queued update when the next one supersedes it: screens read the events
        # from the session, so only a state change (job) must not be lost to an events-only update
        return (isinstance(message, JobUpdated) and (message.backend, message.job_id) == (self.backend, self.job_id)
                and (self.job is None or message.job is not None))


@dataclass
class JobEnded(JobMessage, bubble=False):
    """Following stopped: the job reached a final state (or following failed)."""

    job: dict


@dataclass
class StageProgress(Message, bubble=False):
    """A worker's progress as a core ProgressFn reports it: one stage, how far it is (total None while unknown)."""

    stage: str
    done: int
    total: int | None = None

    def can_replace(self, message: Message) -> bool:
        # only the newest step of the bar is worth drawing
        return isinstance(message, type(self))


class BuildProgress(StageProgress, bubble=False):
    """The build worker's progress."""


@dataclass
class BuildFinished(Message, bubble=False):
    """The build worker's outcome: the prepared files with their validation and costs, or the error to show."""

    result: object = None
    report: object = None
    costs: list | None = None
    error: str | None = None


@dataclass
class PreviewReady(Message, bubble=False):
    """The Build screen's preview worker's outcome for the values of ``generation``: a summary line and
    the first records (or the error, with an empty summary)."""

    generation: int
    summary: str
    body: object

    def can_replace(self, message: Message) -> bool:
        # the values kept changing: only the newest preview is worth drawing
        return isinstance(message, PreviewReady)


@dataclass
class RunsRead(Message, bubble=False):
    """The Runs screen's refresh: each run with the cells of its row, newest first."""

    rows: list

    def can_replace(self, message: Message) -> bool:
        # a burst of job updates asks for many refreshes: the newest list is the one to show
        return isinstance(message, RunsRead)


@dataclass
class DatasetRead(Message, bubble=False):
    """The Dataset screen's loading worker's outcome: the dataset with (summary, clean report), or the error."""

    dataset: object = None
    details: tuple | None = None
    labels_spec: str | None = None
    error: str | None = None


@dataclass
class LaunchChecked(Message, bubble=False):
    """The Launch screen's check of the training file: what to confirm (core.jobs.estimate.LaunchEstimate,
    the cost line and budget check), or the error."""

    choice: object = None
    options: object = None
    estimate: object = None
    source: object = None
    error: str | None = None


class AuditProgress(StageProgress, bubble=False):
    """The Audit screen's worker: one stage of core.data.audit and how far it is."""


@dataclass
class AuditFinished(Message, bubble=False):
    """The audit's outcome: the report, the decisions saved so far and where they are kept, or the error."""

    report: object = None
    corrections: object = None
    where: object = None
    error: str | None = None
