// The masking key of the WebSocket frames this code sends as a client (peer links, the native store
// client, the API client).
//
// RFC 6455 makes clients mask every frame with a random key so that a script in a browser cannot
// make a frame look like an HTTP request to a caching proxy on the way. None of these clients is a
// browser, and the peer and store links carry the cluster token. An all-zero key is still a valid
// mask, and `ws` then skips the XOR on both ends: on the masters the masking and unmasking of
// every peer frame was 3.8% of a follower's CPU in `bench schedule` (ws's JavaScript fallback;
// its native `bufferutil` addon is not installed).

/** For `new WebSocket(url, { generateMask })`: fills the 4-byte key with zeros. */
export function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
