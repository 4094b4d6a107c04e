"""The run registry: builds, uploads, jobs, events, results and evaluations, kept across restarts."""
