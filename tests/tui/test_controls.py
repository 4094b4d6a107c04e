"""The Monitor's keys for the job controls come from core's list of them: a control core adds has a key."""

from core.status import CONTROLS
from tui.screens.monitor import CONTROL_KEYS, MonitorScreen


def test_every_job_control_has_a_key_and_a_binding():
    assert set(CONTROL_KEYS) == set(CONTROLS)
    bound = {b.action: b.key for b in MonitorScreen.BINDINGS}
    assert all(bound[action] == key for action, key in CONTROL_KEYS.items())
    assert len(set(CONTROL_KEYS.values())) == len(CONTROL_KEYS)
