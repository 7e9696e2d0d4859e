"""Files an admin exports by hand (Login History CSV, Event Log File CSVs) → the store."""
