"""The harness: ReFrame library tests, MLPerf log judging, reports and the ``acceptance`` CLI (never imports torch)."""
