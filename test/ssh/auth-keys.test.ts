import { join } from 'node:path';
import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { resolveAuth } from '../../src/ssh/auth.js';
import { useTempDir, writeTree } from '../support/tmp.js';

describe('resolveAuth with several key files', () => {
  const tmp = useTempDir();

  it('offers keyFile, then each further key in order (ssh_config may list several IdentityFiles)', async () => {
    const key = () => ssh2.utils.generateKeyPairSync('ed25519').private;
    writeTree(tmp(), { first: key(), second: key() });
    const auth = await resolveAuth({ name: 'lab1', address: '10.0.0.11', port: 22, user: 'root', auth: { keyFile: join(tmp(), 'first'), moreKeyFiles: [join(tmp(), 'second')] } });
    expect(auth.candidates.map((c) => c.label)).toEqual([`publickey (${join(tmp(), 'first')})`, `publickey (${join(tmp(), 'second')})`]);
  });
});
