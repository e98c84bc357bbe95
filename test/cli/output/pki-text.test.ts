import { describe, expect, it } from 'vitest';
import { issuanceLines } from '../../../src/cli/output/pki-text.js';

describe('issuanceLines', () => {
  it("shows each reason escaped: a reason can quote a certificate's names", () => {
    const lines = issuanceLines([{ name: 'apiserver', kind: 'leaf', reason: 'its SANs lack w1\x1b[2J\nall fine\u202e' }], 'plan');
    expect(lines).toEqual(['pki: apply would issue:', '  + certificate apiserver: its SANs lack w1\\x1b[2J\\x0aall fine\\u202e']);
  });
});
