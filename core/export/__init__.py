"""Moving a run out of startune into the tools teams already use (experiment trackers)."""
