import { Fragment, useState } from 'react';
import { formatFingerprint } from '../../../src/identity/fingerprint-text.js';

/** A fingerprint in groups of four, as `peertrust fingerprint` prints it; lines break only between groups. */
export function FingerprintText({ value, className }: { value: string; className?: string }) {
  return (
    <code className={className}>
      {formatFingerprint(value)
        .split(':')
        .map((group, index) => (
          <Fragment key={index}>
            {index > 0 && ':'}
            {index > 0 && <wbr />}
            {group}
          </Fragment>
        ))}
    </code>
  );
}

/** A fingerprint with a button that copies it. */
export function Fingerprint({ value, owner }: { value: string; owner: string }) {
  const [copied, setCopied] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(formatFingerprint(value));
      setCopied('Copied.');
    } catch {
      // The clipboard is only there on HTTPS or localhost.
      setCopied('This browser does not allow copying here: select the fingerprint and copy it.');
    }
  };
  return (
    <span className="fingerprint">
      <FingerprintText value={value} />
      <button type="button" className="small" onClick={copy} aria-label={`Copy ${owner}'s fingerprint`}>
        Copy
      </button>
      <span role="status" className="note">
        {copied}
      </span>
    </span>
  );
}
