"""Data movement per app: what an app's API calls touched, how much, by whom, against its baseline."""
