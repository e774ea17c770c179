// The web console and GraphiQL in a real browser, against real servers, used as an
// operator would: by the links, buttons and fields they see.
import type { Page } from 'playwright-core';
import { describe, expect, test, vi } from 'vitest';
import { ApproveTrustDocument, DenyTrustDocument, RevokeTrustDocument, VerifyTrustHistoryDocument } from '../client/index.js';
import { chromiumPath, expectAccessible, openBrowser, screenshot } from './browser.js';
import { formatFingerprint } from '../src/identity/fingerprint-text.js';
import { run, startCluster, type TestServer } from './helpers.js';

if (!chromiumPath) {
  console.warn('Browser suite SKIPPED: no chromium (apt-get install -y chromium, or set CHROMIUM_PATH to one).');
}

/** A server's console, signed in by the kind of link `npm start` prints. */
const consoleLink = (server: TestServer, token: string, path = '/') => `${new URL(path, server.app.url)}#token=${token}`;

const tile = (page: Page, peerName: string) => page.getByRole('article', { name: peerName, exact: true });
const banner = (page: Page) => page.locator('.banner');

/** The fingerprint as an operator might paste it from another tool: upper case, spaced, prefixed. */
const asTyped = (fingerprint: string) => `SHA256:${fingerprint.toUpperCase().match(/.{4}/g)!.join(' ')}`;

/** Opens the Approve dialog of `peer`'s tile, types `typed`, and returns the dialog. */
async function typeFingerprint(page: Page, peer: TestServer, typed: string) {
  await tile(page, peer.name).getByRole('button', { name: /^Approve/ }).click();
  const dialog = page.getByRole('dialog', { name: `Approve ${peer.name}` });
  await dialog.getByLabel(`Fingerprint read on ${peer.name}`).fill(typed);
  return dialog;
}

async function approveInConsole(page: Page, peer: TestServer) {
  const dialog = await typeFingerprint(page, peer, asTyped(peer.fingerprint));
  await dialog.getByRole('button', { name: `Approve ${peer.name}`, disabled: false }).click();
  await dialog.waitFor({ state: 'hidden' });
}

/** Presses Tab until the focused element is the one named `name`, as a keyboard user would. */
async function tabTo(page: Page, name: string) {
  for (let presses = 0; presses < 40; presses++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((n) => (document.activeElement as HTMLElement | null)?.innerText.trim() === n, name)) return;
  }
  throw new Error(`the Tab key never reached "${name}"`);
}

const focusedText = (page: Page) => page.evaluate(() => (document.activeElement as HTMLElement | null)?.innerText.trim());

/** Marks the document, so that a test can tell that what it saw next came without a reload. */
const markDocument = (page: Page) => page.evaluate(() => Object.assign(window, { notReloaded: true }));
const stillSameDocument = (page: Page) => page.evaluate(() => 'notReloaded' in window);

// A browser and two or three servers on a machine shared with other test files: minutes, not seconds.
describe.skipIf(!chromiumPath)('web console', { timeout: 180_000 }, () => {
  test('approving on both servers with the typed fingerprint turns the tile Trusted live; the history shows each event', async () => {
    const { adminToken, servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo']);
    const { newPage, errors } = await openBrowser();
    const alphaPage = await newPage();

    // The first load, as the browser received it: compressed bodies and headers.
    const transferred = { console: 0, api: 0 };
    alphaPage.on('requestfinished', async (request) => {
      const sizes = await request.sizes();
      transferred[new URL(request.url()).pathname === '/graphql' ? 'api' : 'console'] += sizes.responseBodySize + sizes.responseHeadersSize;
    });
    await alphaPage.goto(consoleLink(alpha!, adminToken));
    await alphaPage.getByText('Signed in as admin (administrator)').waitFor();
    await alphaPage.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await tile(alphaPage, 'bravo').waitFor();
    console.log(
      `console first load: ${transferred.console} bytes (document, script, styles, icon), ` +
        `${transferred.api} bytes of API answers, compressed as sent`,
    );
    expect(alphaPage.url()).not.toContain('token');

    await banner(alphaPage).getByRole('link', { name: 'bravo' }).waitFor();
    await expect(banner(alphaPage).textContent()).resolves.toContain('1 peer awaits');
    await screenshot(alphaPage, 'trusted-servers');
    await expectAccessible(alphaPage, 'Trusted Servers');

    // A fingerprint that is not bravo's keeps the dialog's Approve disabled, whatever its form.
    const wrong = await typeFingerprint(alphaPage, bravo!, asTyped(alpha!.fingerprint));
    await wrong.getByRole('button', { name: 'Approve bravo', disabled: true }).waitFor();
    await wrong.getByText('Does not match').waitFor();
    await wrong.getByLabel('Fingerprint read on bravo').fill(bravo!.fingerprint.slice(0, 40));
    await wrong.getByRole('button', { name: 'Approve bravo', disabled: true }).waitFor();
    await screenshot(alphaPage, 'approve-dialog');
    await expectAccessible(alphaPage, 'the Approve dialog');
    await wrong.getByRole('button', { name: 'Cancel' }).click();

    // bravo's administrator has bravo's console open meanwhile.
    const bravoPage = await newPage();
    await bravoPage.goto(consoleLink(bravo!, adminToken));
    await banner(bravoPage).getByRole('link', { name: 'alpha', exact: true }).waitFor();
    await markDocument(bravoPage);

    await approveInConsole(alphaPage, bravo!);
    await tile(alphaPage, 'bravo').getByText('alpha (this server): approved').waitFor();
    await banner(alphaPage).waitFor({ state: 'detached' });
    await markDocument(alphaPage);

    // On bravo, the banner says at once that alpha approved first.
    await banner(bravoPage).getByRole('link', { name: 'alpha (it has approved this server)' }).click();
    expect(await stillSameDocument(bravoPage)).toBe(true);
    await approveInConsole(bravoPage, alpha!);
    await tile(bravoPage, 'alpha').getByText('Trusted').waitFor();

    // alpha's tile turns Trusted by itself.
    await tile(alphaPage, 'bravo').getByText('Trusted', { exact: true }).waitFor();
    await tile(alphaPage, 'bravo').getByText('bravo: approved').waitFor();
    expect(await stillSameDocument(alphaPage)).toBe(true);
    await screenshot(alphaPage, 'trusted');
    await expect(tile(alphaPage, 'bravo').getByRole('button', { name: 'Approve…' }).count()).resolves.toBe(0);

    await alphaPage.getByRole('link', { name: 'Trust History' }).click();
    const rows = alphaPage.getByRole('table').locator('tbody tr');
    await rows.nth(2).waitFor();
    const grid = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.innerText)));
    // Newest first: enabled, bravo's approval of alpha, alpha's approval of bravo.
    expect(grid.map((cells) => cells.slice(2, 4).concat(cells[5]!))).toEqual([
      ['Trust enabled', 'alpha ↔ bravo', 'admin'],
      ['Approved', 'bravo → alpha', 'admin'],
      ['Approved', 'alpha → bravo', 'admin'],
    ]);
    // Each fingerprint says whose key it is: bravo's approval enabled trust, against bravo's key and alpha's.
    const keys = (cells: string[]) => cells[4]!.replace(/\s/g, '');
    expect(keys(grid[0]!)).toBe(`bravo:${formatFingerprint(bravo!.fingerprint)}alpha:${formatFingerprint(alpha!.fingerprint)}`);
    expect(keys(grid[2]!)).toBe(`bravo:${formatFingerprint(bravo!.fingerprint)}`);
    // # is each event's place in the cluster's one history: consecutive here, but for the token's issue before them.
    const places = grid.map((cells) => Number(cells[0]));
    expect(places).toEqual([places[2]! + 2, places[2]! + 1, places[2]]);
    await screenshot(alphaPage, 'trust-history');
    await expectAccessible(alphaPage, 'Trust History');
    // A change made on bravo comes to the top of alpha's grid by itself.
    await run(bravo!.admin, RevokeTrustDocument, { input: { peerId: alpha!.id } });
    await rows.first().getByText('Revoked').waitFor();
    await expect(rows.count()).resolves.toBe(4);

    await alphaPage.getByRole('link', { name: 'Root Key Management' }).click();
    const own = alphaPage.getByRole('region', { name: 'This server: alpha' });
    await own.getByText(alpha!.fingerprint.slice(0, 4), { exact: false }).waitFor();
    await alphaPage.getByRole('region', { name: 'Every server' }).getByRole('article', { name: /bravo/ }).waitFor();
    await screenshot(alphaPage, 'root-keys');
    await expectAccessible(alphaPage, 'Root Key Management');
    expect(await stillSameDocument(alphaPage)).toBe(true);
    expect(errors).toEqual([]);
  });

  test('deny says it is final and asks first; revoke and decommission ask too; an API error is shown beside the action', async () => {
    const cluster = await startCluster(['alpha', 'bravo', 'charlie']);
    const { adminToken, servers: [alpha, bravo, charlie] } = cluster;
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.goto(consoleLink(alpha!, adminToken));

    // Revoke: cancelling changes nothing; confirming revokes.
    await tile(page, 'bravo').getByRole('button', { name: 'Revoke…' }).click();
    const revoke = page.getByRole('dialog', { name: 'Revoke trust with bravo' });
    await revoke.getByRole('button', { name: 'Cancel' }).click();
    await revoke.waitFor({ state: 'detached' });
    await tile(page, 'bravo').getByText('Pending', { exact: true }).waitFor();
    await tile(page, 'bravo').getByRole('button', { name: 'Revoke…' }).click();
    await revoke.getByRole('button', { name: 'Revoke trust' }).click();
    await tile(page, 'bravo').getByText('Revoked', { exact: true }).waitFor();
    await tile(page, 'bravo').getByRole('button', { name: 'Approve again…' }).waitFor();

    // Deny: the dialog says plainly that it is final for that instance.
    await tile(page, 'charlie').getByRole('button', { name: 'Deny…' }).click();
    const deny = page.getByRole('dialog', { name: 'Deny charlie' });
    await deny.getByText('Denying is final for this server instance.').waitFor();
    await screenshot(page, 'deny-dialog');
    await expectAccessible(page, 'the Deny dialog');
    // Final: it takes the peer's name typed, not a click alone.
    const confirmDeny = deny.getByRole('button', { name: 'Deny charlie' });
    expect(await confirmDeny.isDisabled()).toBe(true);
    await deny.getByLabel('Type charlie to deny it').fill('charli');
    expect(await confirmDeny.isDisabled()).toBe(true);
    await deny.getByLabel('Type charlie to deny it').fill('charlie');
    await confirmDeny.click();
    await tile(page, 'charlie').getByText('Denied', { exact: true }).waitFor();
    await tile(page, 'charlie').getByText('alpha (this server)', { exact: true }).waitFor();
    await expect(tile(page, 'charlie').getByRole('button', { name: /Approve|Deny|Revoke/ }).count()).resolves.toBe(0);

    // Decommission asks, then marks the server DECOMMISSIONED.
    const charliePage = await newPage();
    await charliePage.goto(consoleLink(charlie!, adminToken));
    await tile(charliePage, 'bravo').getByRole('button', { name: 'Deny…' }).waitFor();
    await tile(page, 'charlie').getByRole('button', { name: 'Decommission…' }).click();
    const decommission = page.getByRole('dialog', { name: 'Decommission charlie' });
    await decommission.getByRole('button', { name: 'Decommission charlie' }).click();
    await tile(page, 'charlie').getByText('DECOMMISSIONED').waitFor();
    // charlie's own console, open meanwhile, says so at once, and offers no decision, which it would refuse.
    await charliePage.getByText('charlie is decommissioned:').waitFor();
    // Its tile of alpha says who denied it.
    await tile(charliePage, 'alpha').getByText('Denied by', { exact: true }).waitFor();
    expect(await tile(charliePage, 'alpha').locator('dt:has-text("Denied by") + dd').textContent()).toBe('alpha');
    await expect(charliePage.getByRole('button', { name: /Approve|Deny|Revoke|Decommission/ }).count()).resolves.toBe(0);
    await charliePage.close();

    // bravo denies alpha while alpha's administrator has the Approve dialog open:
    // its Approve then gets the API's TrustDeniedError, in words, beside the button.
    const dialog = await typeFingerprint(page, bravo!, bravo!.fingerprint);
    await run(bravo!.admin, DenyTrustDocument, { input: { peerId: alpha!.id, fingerprint: alpha!.fingerprint } });
    await dialog.getByRole('button', { name: 'Approve bravo' }).click();
    const problem = dialog.getByRole('alert');
    await problem.waitFor();
    expect(await problem.textContent()).toMatch(/denied/i);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });

    // charlie's new instance shares its name: the history's filter tells the two apart.
    const newCharlie = await cluster.addServer('charlie');
    await page.getByRole('link', { name: 'Trust History' }).click();
    const kinds = page.getByRole('table').locator('tbody tr td:nth-child(3)');
    await kinds.nth(3).waitFor();
    expect(await kinds.allInnerTexts()).toEqual(['Denied', 'Decommissioned', 'Denied', 'Revoked']);
    const keyStart = (server: TestServer) => formatFingerprint(server.fingerprint).slice(0, 9);
    await page.getByLabel('Peer').locator('option', { hasText: `charlie (${keyStart(newCharlie)})` }).waitFor({ state: 'attached' });
    await page.getByLabel('Peer').selectOption({ label: `charlie (decommissioned, ${keyStart(charlie!)})` });
    await kinds.nth(2).waitFor({ state: 'detached' });
    expect(await kinds.allInnerTexts()).toEqual(['Decommissioned', 'Denied']);
    // Its rows name it apart from the new instance too.
    const named = await page.getByRole('table').locator('tbody tr td:nth-child(4)').allInnerTexts();
    expect(named.every((text) => text.includes(`charlie (decommissioned, ${keyStart(charlie!)})`)), named.join(' | ')).toBe(true);
    // The filter is in the address: a reload keeps it.
    expect(new URL(page.url()).search).toBe(`?peer=${charlie!.id}`);
    await page.reload();
    await kinds.nth(1).waitFor();
    expect(await kinds.allInnerTexts()).toEqual(['Decommissioned', 'Denied']);

    // A decommissioned peer whose pair was pending, not denied: its tile says that no approval can come.
    await page.getByRole('link', { name: 'Trusted Servers' }).click();
    const newCharlieTile = page.getByRole('article').filter({ hasText: newCharlie.id });
    await newCharlieTile.getByRole('button', { name: 'Decommission…' }).click();
    await page.getByRole('dialog', { name: 'Decommission charlie' }).getByRole('button', { name: 'Decommission charlie' }).click();
    await newCharlieTile.getByText('none: charlie is decommissioned and cannot be approved again').waitFor();
    await expect(newCharlieTile.getByRole('button', { name: /Approve/ }).count()).resolves.toBe(0);

    // Each tile links to its pair's history.
    await tile(page, 'bravo').getByRole('link', { name: 'History with bravo' }).click();
    await expect.poll(() => kinds.allInnerTexts()).toEqual(['Denied', 'Revoked']);
    expect(await page.getByLabel('Peer').inputValue()).toBe(bravo!.id);
    expect(errors).toEqual([]);
  });

  test('verifiable trust: the root key rotated from its page, the whole history verified, a pair changed by SQL shown Unverified with no decision but decommission', async () => {
    const cluster = await startCluster(['alpha', 'bravo']);
    const [alpha, bravo] = cluster.servers as [TestServer, TestServer];
    for (const [on, peer] of [[alpha, bravo], [bravo, alpha]] as const) {
      await run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } });
    }
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.goto(consoleLink(alpha, cluster.adminToken, '/keys'));

    const own = page.getByRole('region', { name: 'This server: alpha' });
    await own.getByRole('heading', { name: /root key \(current\)/ }).waitFor();
    await page.getByRole('button', { name: "Rotate this server's root key…" }).click();
    const rotate = page.getByRole('dialog', { name: "Rotate alpha's root key" });
    await rotate.getByText('no new approval is needed', { exact: false }).waitFor();
    await screenshot(page, 'rotate-dialog');
    await expectAccessible(page, 'the Rotate dialog');
    await rotate.getByRole('button', { name: 'Rotate the root key' }).click();
    await rotate.waitFor({ state: 'detached' });
    // The old key stays, retired; the new one is current, and alpha is still trusted by bravo.
    await own.getByRole('heading', { name: /retired/ }).waitFor();
    await expect(own.getByRole('heading', { name: /\(current\)/ }).count()).resolves.toBe(1);
    const current = (await own.locator('.root-key:not(.retired) code').first().innerText()).replace(/[^0-9a-f]/g, '');
    expect(current).not.toBe(alpha.fingerprint);
    await screenshot(page, 'root-key-rotated');

    await page.getByRole('link', { name: 'Trust History' }).click();
    await page.getByRole('table').locator('tbody tr').first().getByText('Root key rotated').waitFor();
    // One entry per pair of the rotating server: each row names its pair.
    await page.getByRole('table').locator('tbody tr').first().getByText('alpha (its own key), with bravo').waitFor();
    // bravo, which trusts alpha, cosigns its checkpoints as a witness: named, not by id.
    await vi.waitFor(async () => expect((await run(alpha.reader, VerifyTrustHistoryDocument, {})).verifyTrustHistory.witnesses).toContain(bravo.id), { timeout: 15_000, interval: 200 });
    await page.getByRole('button', { name: 'Verify the whole history' }).click();
    const verified = page.getByText(/^Verified: all \d+ entries/);
    await verified.waitFor();
    expect(await verified.textContent()).toMatch(/cosigned by (alpha, )?bravo(, alpha)?\.$/);
    await screenshot(page, 'history-verified');
    await expectAccessible(page, 'Trust History, verified');

    // An attacker with write access to the database un-trusts nothing but forges a state:
    // the tile says so, with the reason, and offers no decision.
    await cluster.db.prisma.$executeRawUnsafe(`UPDATE "PeerTrust" SET "status" = 'PENDING', "acceptedByA" = false, "acceptedByB" = true`);
    await page.getByRole('link', { name: 'Trusted Servers' }).click();
    const bravoTile = tile(page, 'bravo');
    await bravoTile.getByText('Unverified', { exact: true }).waitFor();
    await bravoTile.getByText('the database says PENDING', { exact: false }).waitFor();
    await expect(bravoTile.getByRole('button', { name: /Approve|Deny|Revoke/ }).count()).resolves.toBe(0);
    // Taking the peer out stays possible: the API does not rest it on the pair.
    await bravoTile.getByRole('button', { name: 'Decommission…' }).waitFor();
    await screenshot(page, 'unverified');
    await expectAccessible(page, 'an Unverified tile');
    expect(errors).toEqual([]);
  });

  test('keyboard only, on a narrow screen: banner link, Approve, typed fingerprint, Approve in the dialog; Escape closes a dialog', async () => {
    const { adminToken, servers: [alpha, bravo] } = await startCluster(['alpha', 'bravo']);
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(consoleLink(alpha!, adminToken));
    await banner(page).getByRole('link', { name: 'bravo' }).waitFor();
    await tile(page, 'bravo').waitFor();
    // Readable without sideways scrolling.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(page, 'narrow-screen');

    // The banner's link leads to the peer's tile, which takes the focus.
    await tabTo(page, 'bravo');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-peer') === 'bravo');
    expect(new URL(page.url()).pathname).toBe(`/servers/${bravo!.id}`);

    await tabTo(page, 'Deny…');
    await page.keyboard.press('Enter');
    const deny = page.getByRole('dialog', { name: 'Deny bravo' });
    await deny.waitFor();
    await page.keyboard.press('Escape');
    await deny.waitFor({ state: 'detached' });
    expect(await focusedText(page)).toBe('Deny…');

    await page.keyboard.press('Shift+Tab');
    expect(await focusedText(page)).toBe('Approve…');
    await page.keyboard.press('Enter');
    const approve = page.getByRole('dialog', { name: 'Approve bravo' });
    await approve.getByLabel('Fingerprint read on bravo').waitFor();
    // The dialog starts in its only field.
    await page.keyboard.type(bravo!.fingerprint);
    await page.keyboard.press('Tab');
    expect(await focusedText(page)).toBe('Approve bravo');
    await page.keyboard.press('Enter');
    await tile(page, 'bravo').getByText('alpha (this server): approved').waitFor();
    expect(errors).toEqual([]);
  });

  test('a READ_ONLY user sees every page and no button that changes trust', async () => {
    const cluster = await startCluster(['alpha', 'bravo']);
    const [alpha] = cluster.servers;
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.goto(consoleLink(alpha!, cluster.readerToken));
    await page.getByText('Signed in as reader (read-only)').waitFor();
    await banner(page).getByRole('link', { name: 'bravo' }).waitFor();
    // A server that registers now appears in the banner and as a tile, without a reload.
    await cluster.addServer('charlie');
    await banner(page).getByRole('link', { name: 'charlie' }).waitFor();
    await expect(banner(page).textContent()).resolves.toContain('2 peers await');
    await tile(page, 'charlie').waitFor();
    await tile(page, 'bravo').getByText('Pending', { exact: true }).waitFor();
    const changing = /Approve|Deny|Revoke|Decommission/;
    expect(await page.getByRole('button', { name: changing }).count()).toBe(0);
    await screenshot(page, 'read-only');
    await expectAccessible(page, 'Trusted Servers, read-only');
    for (const [link, heading] of [['Trust History', 'Trust History'], ['Root Key Management', 'Root Key Management']] as const) {
      await page.getByRole('link', { name: link }).click();
      await page.getByRole('heading', { level: 1, name: heading }).waitFor();
      expect(await page.getByRole('button', { name: changing }).count()).toBe(0);
    }
    expect(errors).toEqual([]);
  });

  test('sign-in with a pasted token (also as "Bearer <token>"); a wrong token is refused in words', async () => {
    const { adminToken, servers: [alpha] } = await startCluster(['alpha']);
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.goto(new URL('/', alpha!.app.url).href);
    // It names its server before any token, as /health does.
    await page.getByText('Sign in to alpha').waitFor();
    await page.getByLabel('Token').fill('ptk_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /token/i }).waitFor();
    await screenshot(page, 'sign-in');
    await expectAccessible(page, 'Sign-in');
    // Pasted as an Authorization header's value, it is the token that signs in.
    await page.getByLabel('Token').fill(`Bearer ${adminToken}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in as admin (administrator)').waitFor();
    // Kept for the tab's session: a reload stays signed in.
    await page.reload();
    await page.getByText('Signed in as admin (administrator)').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').waitFor();
    // A console link pasted into this tab signs in, though only the fragment changes.
    await page.goto(consoleLink(alpha!, adminToken));
    await page.getByText('Signed in as admin (administrator)').waitFor();
    expect(page.url()).not.toContain('token');
    expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
  });

  test("GraphiQL from the console's link: the token fills the header, and the prefilled subscription receives a notice", async () => {
    const cluster = await startCluster(['alpha', 'bravo']);
    const [alpha, bravo] = cluster.servers;
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    const streams: { status: number; headers: Record<string, string> }[] = [];
    page.on('response', async (response) => {
      const request = response.request();
      if (request.method() === 'GET' && (await request.allHeaders())['accept'] === 'text/event-stream') {
        streams.push({ status: response.status(), headers: await request.allHeaders() });
      }
    });
    await page.goto(consoleLink(alpha!, cluster.adminToken, '/graphql'));
    const run = page.getByRole('button', { name: /Execute query/ });
    await run.waitFor();
    expect(page.url()).not.toContain('token');

    // The variables name the peer that awaits approval.
    await page.getByText(bravo!.id).first().waitFor();

    await run.click();
    await page.getByRole('menuitem', { name: 'TrustApprovalRequired' }).click();
    const results = page.locator('.graphiql-response');
    await results.getByText('"bravo"').waitFor();
    // A server that registers now is announced on the open stream.
    await cluster.addServer('charlie');
    await results.getByText('"charlie"').waitFor();
    expect(streams).toHaveLength(1);
    expect(streams[0]).toMatchObject({ status: 200, headers: { authorization: `Bearer ${cluster.adminToken}`, 'x-graphql-yoga-csrf': 'graphiql' } });
    await screenshot(page, 'graphiql');

    // The prefilled mutations run once the administrator fills in the fingerprint they
    // verified on the peer: not prefilled, Approve records nothing. Decommission is among them.
    expect(await page.getByText(bravo!.fingerprint).count()).toBe(0);
    await page.getByRole('button', { name: /Stop/ }).click();
    await run.click();
    await page.getByRole('menuitem', { name: 'Decommission' }).waitFor();
    await page.getByRole('menuitem', { name: 'Approve' }).click();
    await results.getByText('"InvalidFingerprintError"').waitFor();
    expect(errors).toEqual([]);
  });

  test('GraphiQL from the console, with nothing to approve: the variables are placeholders, not a trusted peer', async () => {
    const cluster = await startCluster(['alpha', 'bravo']);
    const [alpha, bravo] = cluster.servers;
    for (const [on, peer] of [[alpha!, bravo!], [bravo!, alpha!]] as const) {
      await run(on.admin, ApproveTrustDocument, { input: { peerId: peer.id, fingerprint: peer.fingerprint } });
    }
    const { newPage, errors } = await openBrowser();
    const page = await newPage();
    await page.goto(consoleLink(alpha!, cluster.adminToken, '/graphql'));
    await page.getByRole('button', { name: /Execute query/ }).waitFor();
    await page.getByText('<a peer id, from Peers>').first().waitFor();
    expect(await page.getByText(bravo!.id).count()).toBe(0);
    expect(errors).toEqual([]);
  });
});
