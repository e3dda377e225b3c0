"""The foundation every layer may import: settings, errors, redaction, crash points, file
modes, key files and month arithmetic. It imports nothing of finlake's own above it."""
