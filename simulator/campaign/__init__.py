"""Monte-Carlo campaigns: sweep files, plans, the SQLite result store, executors and statistics."""
