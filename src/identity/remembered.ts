// Answers about keys, computed once: a cluster has a few keys, and every request and every
// verified entry asks about them again.

/** `compute`, remembering up to `limit` answers by their PEM (all forgotten when full, so a flood of keys cannot grow it). */
export function remembered<T>(compute: (pem: string) => T, limit = 1_000): (pem: string) => T {
  const answers = new Map<string, T>();
  return (pem) => {
    let answer = answers.get(pem);
    if (answer === undefined) {
      if (answers.size >= limit) answers.clear();
      answers.set(pem, (answer = compute(pem)));
    }
    return answer;
  };
}
