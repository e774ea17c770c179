// What a request may cost: the largest page the README documents is accepted, and
// the cost limit sees variables and their defaults (issue 8, item 2).
import { readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';
import { bearer, postGraphQL, startCluster } from './helpers.js';

/** The largest pages the README documents (under "Limits"). */
async function documentedLargestPages(): Promise<string[]> {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const pages = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((query) => query.includes('(first: 200)'));
  expect(pages.length).toBeGreaterThanOrEqual(2);
  return pages;
}

const aliases = (count: number, field: string) => Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join('\n');
const HISTORY_PAGE = 'trustHistory(first: $n) { edges { node { id kind at } } }';

async function ask(url: string, token: string, body: { query: string; variables?: Record<string, unknown> }) {
  const response = await postGraphQL(url, body, bearer(token));
  return (await response.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

test("the README's largest pages are accepted, one at a time", async () => {
  const { readerToken, servers: [alpha] } = await startCluster();
  const pages = await documentedLargestPages();
  for (const query of pages) {
    const result = await ask(alpha!.app.url, readerToken, { query });
    expect(result.errors).toBeUndefined();
    expect(result.data).toBeTruthy();
  }
  const together = `{ ${pages.map((page) => page.trim().slice(1, -1)).join('\n')} }`;
  expect((await ask(alpha!.app.url, readerToken, { query: together })).errors?.[0]?.extensions?.['code']).toBe('QUERY_TOO_COSTLY');
});

test('15 aliases of a page of 200 are refused, whether 200 is a literal, a variable or a variable default', async () => {
  const { readerToken, servers: [alpha] } = await startCluster();
  const url = alpha!.app.url;
  const requests = [
    { query: `query { ${aliases(15, HISTORY_PAGE.replace('$n', '200'))} }` },
    { query: `query($n: Int) { ${aliases(15, HISTORY_PAGE)} }`, variables: { n: 200 } },
    { query: `query($n: Int = 200) { ${aliases(15, HISTORY_PAGE)} }` },
  ];
  for (const body of requests) {
    const result = await ask(url, readerToken, body);
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^this operation costs \d+, more than the \d+ one request may cost/),
      extensions: { code: 'QUERY_TOO_COSTLY' },
    });
  }
  // The same aliases with small pages are fine: the page size is what costs.
  expect((await ask(url, readerToken, { query: `query($n: Int) { ${aliases(15, HISTORY_PAGE)} }`, variables: { n: 5 } })).errors).toBeUndefined();
});
