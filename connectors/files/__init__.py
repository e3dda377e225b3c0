"""A bank's own export files (OFX/QFX, CSV) read into statement lines for a manual account."""
