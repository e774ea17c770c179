// The signed-in token, shared by the console and GraphiQL (one origin). It arrives in a
// link's fragment (#token=ptk_...: a fragment is never sent to a server, so it is in
// no request and no log), leaves the address bar at once, and is kept in
// sessionStorage: for this browser tab's session only.

const KEY = 'peertrust.token';

/** The token of a console link, now removed from the address bar, or the one kept for this session. */
export function takeToken(): string | null {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromLink) {
    keepToken(fromLink);
    history.replaceState(history.state, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY);
}

export function keepToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}

/** A link that opens `path` on this server signed in with `token`: the token rides in the fragment. */
export function signedInLink(path: string, token: string): string {
  return `${path}#${new URLSearchParams({ token })}`;
}
