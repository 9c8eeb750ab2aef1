"""Acceptance reports: ReFrame run reports and MLPerf logs -> index.html and summary.md."""
