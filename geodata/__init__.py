"""Database, spatial primitives and shared vocabulary; imports nothing of ours."""
