// The trust commands: peers, approve, deny, revoke, decommission, history (and history
// verify), watch and key rotate. They act through one server's API as its administrator
// would (the decision is that server's), with the token from PEERTRUST_TOKEN. This file
// says what the commands are and take; trust-actions.ts what they do. `history verify
// --bundle` needs no server (history-bundle.ts).
import { InvalidArgumentError, Option, type Command } from 'commander';
import { exitCodesHelp } from './errors.js';
import type { Target } from './trust-actions.js';

export const DEFAULT_URL = 'http://127.0.0.1:4000/graphql';

const environmentHelp = `Environment: PEERTRUST_TOKEN (required; from \`peertrust token create\`: ADMINISTRATOR to change trust, READ_ONLY to read), PEERTRUST_URL (instead of --url).`;

/** The typed client takes a moment to load: only a trust command that runs loads it. */
const actions = () => import('./trust-actions.js');

function limit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError('must be a whole number from 1 to 100000.');
  return n;
}

/** Registers the trust commands; returns `history`, for the commands that read the database to add to. */
export function registerTrustCommands(program: Command): Command {
  /** A command that talks to a server's API: --url, --json, and the environment and exit codes in its help. */
  const apiCommand = (name: string, description: string, parent = program) =>
    parent
      .command(name)
      .description(description)
      .addOption(new Option('--url <url>', "the server's API: what this command reads or decides is that server's").env('PEERTRUST_URL').default(DEFAULT_URL))
      .option('--json', 'print JSON for scripts (the shapes are in the README)')
      .addHelpText('after', `\n${environmentHelp}\n\n${exitCodesHelp}`);

  /** Where this command invocation talks to, and how it prints. */
  const targetOf = (command: Command): Target => {
    const flags = command.opts<{ url: string; json?: boolean }>();
    return { url: flags.url, urlFrom: command.getOptionValueSource('url') === 'env' ? 'PEERTRUST_URL' : '--url', json: flags.json };
  };
  const peerArgument = ['<peer>', 'the peer server: its id, or its name if no other server has it'] as const;
  const fingerprintOption = ['--fingerprint <fp>', "the peer's root key fingerprint as you verified it on the peer (`peertrust fingerprint` there); any case, ':' or spaces"] as const;

  apiCommand('peers', "List this server's peers: trust status, who has approved, online, fingerprint, addresses.").action(
    async (_flags: unknown, command: Command) => (await actions()).peers(targetOf(command)),
  );
  apiCommand('approve', 'Approve trust in a peer on this server. The pair is TRUSTED once the peer approves this server too.')
    .argument(...peerArgument)
    .requiredOption(...fingerprintOption)
    .action(async (peer: string, flags: { fingerprint: string }, command: Command) => (await actions()).approve(peer, flags.fingerprint, targetOf(command)));
  apiCommand('deny', 'Deny a peer instance on this server. Final: only a reinstalled server (a new instance) can be trusted again.')
    .argument(...peerArgument)
    .requiredOption(...fingerprintOption)
    .action(async (peer: string, flags: { fingerprint: string }, command: Command) => (await actions()).deny(peer, flags.fingerprint, targetOf(command)));
  apiCommand('revoke', 'End trust with a peer, for example before it is replaced. Approving again later starts a new round.')
    .argument(...peerArgument)
    .action(async (peer: string, _flags: unknown, command: Command) => (await actions()).revoke(peer, targetOf(command)));
  apiCommand('decommission', 'Take a server out of the cluster: it is DECOMMISSIONED and its pending and trusted pairs are revoked. It can still be denied.')
    .argument(...peerArgument)
    .action(async (peer: string, _flags: unknown, command: Command) => (await actions()).decommission(peer, targetOf(command)));
  const history = apiCommand('history', "Show this server's Trust History, newest last. `history verify` checks it; `history export` writes a bundle to check offline.")
    .option('--peer <peer>', 'only the history with this peer (id, or name if unique)')
    .option('--limit <n>', 'the newest N events', limit, 50)
    .action(async (flags: { peer?: string; limit: number }, command: Command) => (await actions()).history(flags, targetOf(command)))
    .enablePositionalOptions();
  apiCommand(
    'verify',
    "Verify the whole Trust History on a server (every entry's signatures, its place, the Merkle tree against the signed checkpoints), or offline, with no server or database, a bundle from `history export`. Exit 1 names the first entry that breaks.",
    history,
  )
    .option('--bundle <file>', 'verify this bundle offline instead of asking a server')
    .option(
      '--trust <fingerprint>',
      "with --bundle: a root key fingerprint you verified on a server (`peertrust fingerprint` there); the checkpoint must be signed or cosigned by one (repeat for several)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (flags: { bundle?: string; trust?: string[]; json?: boolean }, command: Command) => {
      if (flags.bundle === undefined) return (await actions()).verifyHistory(targetOf(command));
      const { verifyBundleFile } = await import('./history-bundle.js');
      return verifyBundleFile(flags.bundle, flags.trust ?? [], flags.json);
    });
  apiCommand('watch', 'Show "trust approval required" notices (the pending ones first) and every change of trust, live, until Ctrl-C.').action(
    async (_flags: unknown, command: Command) => (await actions()).watch(targetOf(command)),
  );

  const key = program.command('key').description("This server's root key (`peertrust fingerprint` prints it).");
  apiCommand(
    'rotate',
    "Replace this server's root key with a new one that the current key endorses: peers keep trusting it, no new approval round. The old key is kept, retired.",
    key,
  ).action(async (_flags: unknown, command: Command) => (await actions()).rotateKey(targetOf(command)));

  program.addHelpText(
    'after',
    `\nThe trust commands (peers, approve, deny, revoke, decommission, history, history verify, watch, key rotate) use a server's API: --url (${DEFAULT_URL}).\n${environmentHelp}\n\n${exitCodesHelp}`,
  );
  return history;
}
