// Fetch IPFS paths from one trustless gateway with Helia's verified-fetch, an independent IPFS implementation
// that checks every block against its CID.
//
//   node fetch.mjs GATEWAY_URL /ipfs/CID[/path] ...
//
// Prints one JSON array: for each path {path, status, size, sha256, contentType} or {path, error, causes}.
// INTEROP_TIMEOUT_MS (default 20000) bounds each fetch.
// Only GATEWAY_URL is ever contacted: no delegated routers, no libp2p (so no bootstrap peers), and a DNS
// resolver that refuses every name. Used by tests/ipfs/test_interop_helia.py.

import { createHash } from 'node:crypto'

// Node 20 lacks Promise.withResolvers (Node 22 has it); some libp2p/Helia modules use it at run time.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const TIMEOUT_MS = Number(process.env.INTEROP_TIMEOUT_MS ?? 20000)

const { createHeliaLight } = await import('helia')
const { withHTTP } = await import('@helia/http')
const { createVerifiedFetchWithHelia } = await import('@helia/verified-fetch')

const [gateway, ...paths] = process.argv.slice(2)
if (gateway == null || paths.length === 0) {
  console.error('usage: node fetch.mjs GATEWAY_URL /ipfs/CID[/path] ...')
  process.exit(2)
}

// Helia 7 waits forever for its non-fallback routers when there are none: one that finds nothing ends that wait.
const noRouter = {
  name: 'no-router',
  async * findProviders () {}
}

// Any DNS lookup (DNSLink) is refused rather than sent anywhere.
const refusingDns = {
  async query (domain) {
    throw new Error(`DNS lookups are disabled in this test (asked for ${domain})`)
  }
}

const helia = withHTTP(createHeliaLight({ routers: [noRouter], dns: refusingDns }), {
  delegatedRouters: [],
  recursiveGateways: [gateway],
  allowInsecure: true,
  allowLocal: true
})
await helia.start()
const verifiedFetch = await createVerifiedFetchWithHelia(helia)

async function fetchOne (path) {
  // Helia waits for a good copy of a block until aborted: after a bad one from the only gateway that is forever.
  // (A ref'd timer, unlike AbortSignal.timeout's, keeps Node alive until it fires.)
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`no verified answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
  try {
    const response = await verifiedFetch(`ipfs://${path.replace(/^\/ipfs\//, '')}`, { signal: controller.signal })
    const body = new Uint8Array(await response.arrayBuffer())
    return {
      path,
      status: response.status,
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      contentType: response.headers.get('content-type')
    }
  } catch (err) {
    const describe = (e) => `${e?.name}: ${e?.message}`
    return { path, error: describe(err), causes: (err.errors ?? []).map(describe) }
  } finally {
    clearTimeout(timer)
  }
}

const results = []
for (const path of paths) {
  results.push(await fetchOne(path))
}
await verifiedFetch.stop()
await helia.stop()
process.stdout.write(JSON.stringify(results, null, 1) + '\n')
process.exit(0)
