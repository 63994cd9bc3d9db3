"""The bottom layer, used by every other: the sync bridge (plain calls over one background event loop), base58,
atomic file writes and the HTML tables of notebook displays."""
