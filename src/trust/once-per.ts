// Work done once per object (a notice, a row as read) and key, however many ask for it:
// the answer lives as long as the object does. A failed answer is forgotten, so that the
// next to ask tries again rather than inherit a passing fault.
export type OncePer<Of extends object> = <T>(of: Of, key: string, compute: () => Promise<T>) => Promise<T>;

export function oncePer<Of extends object>(): OncePer<Of> {
  const answers = new WeakMap<Of, Map<string, Promise<unknown>>>();
  return <T>(of: Of, key: string, compute: () => Promise<T>): Promise<T> => {
    let byKey = answers.get(of);
    if (!byKey) answers.set(of, (byKey = new Map()));
    let answer = byKey.get(key) as Promise<T> | undefined;
    if (!answer) {
      answer = compute();
      const kept = byKey;
      answer.catch(() => kept.delete(key));
      byKey.set(key, answer);
    }
    return answer;
  };
}
