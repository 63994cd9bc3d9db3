"""Whole datasets on disk: verified, resumable downloads, reproducible benchmark sets, and paths kept inside their folder."""
