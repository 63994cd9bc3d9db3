"""Where blocks come from: the `BlockSource` protocol, the local store, trustless gateways, a Kubo node, and chains of them."""
