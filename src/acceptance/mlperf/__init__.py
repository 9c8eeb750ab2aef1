"""MLPerf logs: parsing, integrity, one run's figures, scores, RCPs, projections and MLPerf's own checkers."""
