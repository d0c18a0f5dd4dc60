"""The PostGIS backend (in progress)."""
