"""The SLOs-Serve multi-replica router (see `app.py`)."""
