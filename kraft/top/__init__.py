"""``kraft top``: a full-screen live view of a cluster in the terminal (rich), refreshed every second."""
