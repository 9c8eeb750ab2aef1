"""One file per system the suite describes (found by config/tara.py); common.py: what they share."""
