"""The handles a run offers to copy: what is known, in the order a user reaches for it, nothing empty."""

from core.jobs.handles import run_handles


def test_a_run_offers_its_model_job_checkpoints_and_paths_and_leaves_out_what_it_has_not():
    run = {"id": "run-1", "job_id": "ftjob-1", "fine_tuned_model": "ft:m:org:x:1", "build_dir": "/b",
           "results_csv": None, "dataset": "/d/reviews one.csv"}
    handles = run_handles(run, ["ft:m:org:x:1:ckpt-step-20"])
    assert handles == [("fine-tuned model", "ft:m:org:x:1"), ("job id", "ftjob-1"),
                       ("checkpoint 1", "ft:m:org:x:1:ckpt-step-20"), ("build folder", "/b"),
                       ("dataset", "/d/reviews one.csv"), ("run id", "run-1"),
                       ("evaluate command", "startune evaluate run-1")]


def test_a_cancelled_run_offers_no_model():
    handles = dict(run_handles({"id": "run-2", "job_id": "ftjob-2", "fine_tuned_model": None}))
    assert "fine-tuned model" not in handles and handles["job id"] == "ftjob-2"
