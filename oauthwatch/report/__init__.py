"""Reports for tickets and regulators: the incident report of one app over a time span."""
