"""mr analyzers (see the mr issue; not yet implemented in this package version)."""
