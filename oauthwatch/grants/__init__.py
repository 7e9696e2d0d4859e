"""The grant inventory: every live OAuth grant with its blast radius, ranked by risk."""
