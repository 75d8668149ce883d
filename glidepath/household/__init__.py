"""The household: its domain objects, their validation, conversion and canonical hash."""
