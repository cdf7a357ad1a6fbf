"""Core types and shared numerical building blocks (ROIs, fitting, MTF, NPS)."""
