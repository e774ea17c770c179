// A real browser for the console's tests: Debian's chromium driven by playwright-core.
// `npx playwright install` cannot download here; .ci/run installs chromium with apt-get.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import axe from 'axe-core';
import { chromium, type Page } from 'playwright-core';
import { expect, onTestFinished } from 'vitest';
import { packageRoot } from '../src/paths.js';

const chromiumCandidate = process.env['CHROMIUM_PATH'] || '/usr/bin/chromium';

/** The browser, or undefined when this machine has none: the suite then says it was SKIPPED. */
export const chromiumPath = existsSync(chromiumCandidate) ? chromiumCandidate : undefined;

/** Flags that work as root in a container: no sandbox, no GPU, nothing fetched in the background. */
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Each run's screenshots, one per page (gitignored); docs/screenshots keeps the README's. */
export const screenshotDir = path.join(packageRoot, 'tmp', 'screenshots');

/**
 * A new page in a headless chromium of its own (Playwright gives each launch a new,
 * empty profile), closed when the test ends, passed or failed. Messages the page logs
 * as errors (a refused Content-Security-Policy among them) are collected.
 */
export async function openBrowser() {
  if (!chromiumPath) throw new Error('no chromium on this machine');
  const browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_FLAGS, headless: true });
  onTestFinished(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  const newPage = async () => {
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    return page;
  };
  return { browser, context, newPage, errors };
}

/** Runs axe-core in the page and fails on any violation of impact serious or critical. */
export async function expectAccessible(page: Page, what: string): Promise<void> {
  // Evaluated through the DevTools protocol, which the page's script policy does not govern.
  await page.evaluate(axe.source);
  const violations = await page.evaluate(async () => {
    const results = await (window as unknown as { axe: typeof axe }).axe.run(document, { resultTypes: ['violations'] });
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  });
  expect(violations, `axe-core on ${what}`).toEqual([]);
}

/** Saves a full-page screenshot of the page as it is now. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: path.join(screenshotDir, `${name}.png`), fullPage: true });
}
