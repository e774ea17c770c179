// The web console's pages. The server answers each with the console's one document
// (routing happens in the browser); the console's router uses the same paths.

export const consolePaths = {
  servers: '/',
  /** One peer's tile on the Trusted Servers page: `${consolePaths.peer}${peerId}`. */
  peer: '/servers/',
  history: '/history',
  keys: '/keys',
} as const;

/** Whether a request path is a console page, as opposed to an asset or the API. */
export function isConsolePage(pathname: string): boolean {
  return (
    pathname === consolePaths.servers ||
    pathname === consolePaths.history ||
    pathname === consolePaths.keys ||
    (pathname.startsWith(consolePaths.peer) && /^[^/]+$/.test(pathname.slice(consolePaths.peer.length)))
  );
}
