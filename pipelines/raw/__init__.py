"""Raw pages: the partner contract and the day's intake into staged changes."""
