"""Readers, validation and loaders that bring city files into PostGIS."""
