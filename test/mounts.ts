// File systems of a test's own, for faults a shared disk must not suffer: full, or
// read-only. A tmpfs needs the right to mount (root with CAP_SYS_ADMIN, as on CI);
// without it, the tests that need one say that they were skipped.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { onTestFinished } from 'vitest';
import { tempDir } from './helpers.js';

const exec = promisify(execFile);

export interface Mounted {
  dir: string;
  remount(options: { readOnly: boolean }): Promise<void>;
}

/** A tmpfs of `sizeMb`, unmounted when the test ends; undefined where mounting is not allowed. */
export async function mountTmpfs(options: { sizeMb: number; readOnly?: boolean }): Promise<Mounted | undefined> {
  const dir = await tempDir('peertrust-mount-');
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${options.sizeMb}m,mode=0700${options.readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  } catch {
    return undefined;
  }
  // Lazily: processes of the test may still be closing files on it.
  onTestFinished(() => exec('umount', ['-l', dir]).then(() => undefined));
  return {
    dir,
    remount: async ({ readOnly }) => {
      await exec('mount', ['-o', `remount,${readOnly ? 'ro' : 'rw'}`, dir]);
    },
  };
}
