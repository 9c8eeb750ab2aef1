"""ReFrame library tests (site-agnostic) and the hooks and constants they share."""
