// A strict reader of Prometheus's text exposition format (0.0.4): every line is a HELP,
// a TYPE or a sample of a declared metric, or the test fails.
import { expect } from 'vitest';
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const HELP = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*$/;
const TYPE = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
/** Sample names a histogram or summary declares besides its own. */
const SUFFIXES = ['_bucket', '_sum', '_count'];

export function parseExposition(text: string): Sample[] {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || HELP.test(line)) continue;
    const type = TYPE.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a line of the exposition format: ${line}`);
    const [, name, labelText = '', valueText] = sample;
    const family = types.has(name!) ? name! : SUFFIXES.map((s) => name!.endsWith(s) && name!.slice(0, -s.length)).find((n) => n && types.has(n));
    if (!family) throw new Error(`sample of an undeclared metric: ${line}`);
    const labels: Record<string, string> = {};
    let read = 0;
    LABEL.lastIndex = 0;
    for (let match = LABEL.exec(labelText); match; match = LABEL.exec(labelText)) {
      labels[match[1]!] = match[2]!;
      read = LABEL.lastIndex;
    }
    if (read !== labelText.length) throw new Error(`malformed labels: ${line}`);
    // As Prometheus reads it (Go's ParseFloat): Inf and NaN in any case; prom-client writes "Nan".
    const value = /^[+-]?inf$/i.test(valueText!) ? Number(`${valueText!.replace(/inf/i, '')}1`) * Infinity : Number(valueText);
    if (Number.isNaN(value) && !/^nan$/i.test(valueText!)) throw new Error(`not a number: ${line}`);
    samples.push({ name: name!, labels, value });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (among others), or undefined. */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** A server's /metrics, read strictly; `graphqlUrl` is its API's URL. */
export async function scrape(graphqlUrl: string, headers: Record<string, string> = {}): Promise<Sample[]> {
  const response = await fetch(new URL('/metrics', graphqlUrl), { headers });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}
