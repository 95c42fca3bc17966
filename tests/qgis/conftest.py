"""The layer tests' city, for styles drawn by QGIS."""

from tests.layers.conftest import city  # noqa: F401
