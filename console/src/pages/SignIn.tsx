import { useEffect, useId, useState, type FormEvent } from 'react';

/** Sign-in with a token from `peertrust token create` (or the link `npm start` prints). */
export function SignInPage({ problem, onSignIn }: { problem: string | undefined; onSignIn(token: string): void }) {
  const [token, setToken] = useState('');
  const inputId = useId();
  // Which server this is, before any token: /health names it (and nothing else) to anyone.
  const [server, setServer] = useState<string>();
  useEffect(() => {
    fetch('/health')
      .then((response) => response.json() as Promise<{ server?: string }>)
      .then((health) => setServer(health.server))
      .catch(() => {});
  }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    // A token copied from an Authorization header or GraphiQL's headers: the token is what follows "Bearer".
    const entered = token.trim().replace(/^Bearer\s+/i, '');
    if (entered) onSignIn(entered);
  };
  return (
    <main className="sign-in">
      <h1>peertrust</h1>
      {server && (
        <p>
          Sign in to <strong>{server}</strong>
        </p>
      )}
      <form onSubmit={submit}>
        <label htmlFor={inputId}>Token</label>
        <input
          id={inputId}
          type="password"
          value={token}
          onChange={(event) => setToken(event.target.value)}
          autoComplete="off"
          placeholder="ptk_…"
          required
        />
        <button type="submit" className="primary">
          Sign in
        </button>
      </form>
      {problem && (
        <p role="alert" className="problem">
          {problem}
        </p>
      )}
      <p className="note">
        A token comes from <code>peertrust token create --name NAME --role administrator</code>, or open the console link that{' '}
        <code>npm start</code> prints, which signs in at once. It is kept for this browser tab's session only.
      </p>
    </main>
  );
}
