"""ct analyzers (see the ct issue; not yet implemented in this package version)."""
