// The web console and GraphiQL in a real browser, against two real servers.
import { describe, expect, test } from 'vitest';
import { chromiumPath, expectAccessible, openBrowser, screenshot } from './browser.js';
import { startCluster } from './helpers.js';

if (!chromiumPath) console.warn('Browser suite SKIPPED: no chromium at /usr/bin/chromium (apt-get install -y chromium, or set CHROMIUM_PATH).');

/** The console of a server, signed in by the link `npm start` prints. */
const consoleLink = (url: string, token: string, path = '/') => `${new URL(path, url)}#token=${token}`;

describe.skipIf(!chromiumPath)('web console', () => {
  test('explore', async () => {
    const { adminToken, servers: [alpha] } = await startCluster();
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.goto(consoleLink(alpha!.app.url, adminToken));
    await page.getByRole('heading', { name: 'Trust approval required' }).waitFor();
    await screenshot(page, 'explore');
    console.log(errors, page.url());
    await expectAccessible(page, 'servers');
    expect(errors).toEqual([]);
  });
});
