"""The bottom layer, used by every other: the sync bridge (plain calls over one background event loop), base58
and atomic file writes."""
