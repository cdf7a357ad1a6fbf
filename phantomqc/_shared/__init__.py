"""Small shared pieces: errors, the numba decorator, units."""
