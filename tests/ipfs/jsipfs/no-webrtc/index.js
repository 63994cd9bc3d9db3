// js-ipfs' daemon tries `import('wrtc')` and runs without WebRTC when that fails, as it must here.
throw new Error('WebRTC is disabled in the etdb-explore test node')
