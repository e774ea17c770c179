import type { HistoryReport } from '../trust/audit.js';
import { builder } from './builder.js';

export const HistoryVerificationRef = builder.objectRef<HistoryReport>('HistoryVerification').implement({
  description: 'What verifying the whole Trust History found.',
  fields: (t) => ({
    ok: t.exposeBoolean('ok', { description: 'Whether every entry verified and the tree matches its signed checkpoint.' }),
    size: t.exposeInt('size', { description: 'How many entries verified (up to the first that broke).' }),
    rootHash: t.exposeString('rootHash', { description: 'The Merkle root (RFC 6962) of the verified entries, base64.' }),
    checkpoint: t.exposeString('checkpoint', {
      nullable: true,
      description: "The newest signed checkpoint (C2SP tlog-checkpoint), with its witnesses' cosignatures, as a signed note.",
    }),
    witnesses: t.exposeStringList('witnesses', { description: 'The ids of the servers that cosigned that checkpoint.' }),
    brokenAt: t.exposeInt('brokenAt', { nullable: true, description: 'The sequence number of the first entry that does not verify.' }),
    reason: t.exposeString('reason', { nullable: true, description: 'Why it does not.' }),
  }),
});
