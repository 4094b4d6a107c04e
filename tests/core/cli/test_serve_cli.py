def test_serve_refuses_a_public_host_without_a_key(run_cli):
    result = run_cli("serve", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without --api-key" in result.output


def test_fault_spec_errors_are_one_line(run_cli):
    result = run_cli("serve", "--faults", "429=lots")
    assert result.exit_code == 2 and "fault '429' needs a number" in result.output
