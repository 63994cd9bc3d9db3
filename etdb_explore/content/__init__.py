"""Verified IPFS content for users: the content `Client` (local store → Kubo → gateways) and the `etdb://` fsspec filesystem."""
