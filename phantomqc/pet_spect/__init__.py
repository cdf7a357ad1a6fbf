"""pet_spect analyzers (see the pet_spect issue; not yet implemented in this package version)."""
