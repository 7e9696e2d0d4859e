"""Running the sources: the scheduler, the ledger of every run, checkpoints and coverage.

- :mod:`collectors.run.runner`: every selected source of every org, once or in a loop;
- :mod:`collectors.run.ledger`: run rows, checkpoints, quarantine and per-day coverage;
- :mod:`collectors.run.status`: what ``oauthwatch status`` shows from the ledger.

Nothing here imports the runner at package level: the sources import the ledger.
"""
