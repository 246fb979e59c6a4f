"""`make bench`: the cost of one cycle at every size up to Google's limit, against the peers (run.py)."""
