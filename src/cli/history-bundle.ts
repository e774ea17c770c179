// `history verify --bundle` and `history export`: a bundle of the Trust History that an
// auditor checks with no server and no database (src/trust/bundle.ts says what it holds).
import { readFile, writeFile } from 'node:fs/promises';
import type { Database } from '../db/client.js';
import { canonicalFingerprint, formatFingerprint } from '../identity/fingerprint-text.js';
import { exportBundle, NotInHistoryError, verifyBundle } from '../trust/bundle.js';
import { CliError, ExitCode } from './errors.js';

export async function verifyBundleFile(file: string, trust: string[], json?: boolean): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read the bundle ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, ExitCode.usage, 'USAGE');
  }
  let bundle: unknown;
  try {
    bundle = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON: is it a bundle from \`peertrust history export\`?`, ExitCode.usage, 'USAGE');
  }
  const trusted = trust.map((fingerprint) => {
    const normalized = canonicalFingerprint(fingerprint);
    if (!normalized) throw new CliError(`--trust ${JSON.stringify(fingerprint)} is not a root key fingerprint (64 hex digits)`, ExitCode.usage, 'USAGE');
    return normalized;
  });
  const report = verifyBundle(bundle, trusted);
  // Without --trust, the bundle is only consistent with the keys it names itself.
  const anchored = trusted.length > 0 && report.ok;
  if (json) console.log(JSON.stringify({ ...report, anchored }, null, 2));
  // Grouped, as `peertrust fingerprint` prints what they are compared with.
  const signedBy = (list: { name: string; fingerprint: string }[]) => list.map((key) => `${key.name} ${formatFingerprint(key.fingerprint)}`).join(', ') || 'none';
  if (report.unanchored) {
    throw new CliError(
      `the bundle is consistent, but not anchored: ${report.reason}. It is signed by ${signedBy(report.signers)} and cosigned by ${signedBy(report.witnesses)}: pass --trust with the fingerprint of one of them that you checked on the server itself (a decommissioned server signs no new checkpoint)`,
      ExitCode.refused,
      'NotAnchored',
      { reason: report.reason },
    );
  }
  if (!report.ok) {
    const where = report.brokenAt ? `entry ${report.brokenAt}: ` : '';
    throw new CliError(`the bundle does not verify: ${where}${report.reason ?? 'no reason given'}`, ExitCode.refused, 'HistoryBroken', { brokenAt: report.brokenAt, reason: report.reason });
  }
  if (!json) {
    const bundleOf = (bundle as { entry?: { sequence: number } }).entry;
    console.log(
      [
        (anchored ? 'ok: ' : 'ok, not anchored: ') +
          (bundleOf
            ? `entry ${bundleOf.sequence} is in the history of ${report.size} entries (root hash ${report.rootHash})`
            : `${report.size} entries verify; root hash ${report.rootHash}`),
        `checkpoint signed by: ${signedBy(report.signers)}`,
        `cosigned by witnesses: ${signedBy(report.witnesses)}`,
        ...(anchored
          ? [
              `anchored by: ${(report.anchoredBy ?? [])
                .map((key) => `${key.name} ${formatFingerprint(key.fingerprint)}${key.trusted === key.fingerprint ? '' : ` (rotated from ${formatFingerprint(key.trusted)}, which you trust)`}`)
                .join(', ')}`,
            ]
          : ['Not anchored: the bundle verifies against the keys it names itself, which anyone can make. Compare these fingerprints with `peertrust fingerprint` on the servers, or pass --trust FP to require one.']),
      ].join('\n'),
    );
  }
}

/** Writes the bundle to `out`, or to stdout. */
export async function exportBundleTo(db: Database, options: { out?: string | undefined; sequence?: number | undefined }): Promise<void> {
  let bundle;
  try {
    bundle = await exportBundle(db, options.sequence === undefined ? {} : { sequence: options.sequence });
  } catch (error) {
    if (error instanceof NotInHistoryError) throw new CliError(error.message, ExitCode.refused, 'NotFoundError');
    throw error;
  }
  const text = `${JSON.stringify(bundle, null, 2)}\n`;
  if (options.out === undefined) {
    process.stdout.write(text);
    return;
  }
  await writeFile(options.out, text, { mode: 0o644 });
  const what = bundle.entry ? `entry ${bundle.entry.sequence} with its inclusion proof` : `${bundle.entries?.length ?? 0} entries`;
  console.error(`wrote ${what} and the signed checkpoint to ${options.out}; verify it with \`peertrust history verify --bundle ${options.out}\``);
}
