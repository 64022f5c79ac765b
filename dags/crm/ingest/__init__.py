"""Ingestion: discover landing files, read and normalise them, validate with GX, load or quarantine."""
