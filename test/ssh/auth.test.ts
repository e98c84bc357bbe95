import { afterEach, describe, expect, it } from 'vitest';
import { targetSecrets } from '../../src/ssh/auth.js';
import type { SshTarget } from '../../src/ssh/target.js';

describe('targetSecrets', () => {
  const names = ['KS_T_LOGIN', 'KS_T_PHRASE', 'KS_T_SUDO', 'KS_T_JUMP_PW', 'KS_T_JUMP_PHRASE'];
  afterEach(() => {
    for (const n of names) delete process.env[n];
  });

  it("lists every password and passphrase a connection may use, the jump host's included", () => {
    names.forEach((n, i) => (process.env[n] = `secret-${i}`));
    const target: SshTarget = {
      name: 'node1',
      address: '10.0.0.1',
      port: 22,
      user: 'ops',
      auth: { keyFile: '/k', passphraseEnv: 'KS_T_PHRASE', passwordEnv: 'KS_T_LOGIN' },
      sudoPasswordEnv: 'KS_T_SUDO',
      jump: { name: 'jump', address: '10.0.0.9', port: 22, user: 'ops', auth: { passwordEnv: 'KS_T_JUMP_PW', passphraseEnv: 'KS_T_JUMP_PHRASE', keyFile: '/j' } },
    };
    expect(targetSecrets(target).sort()).toEqual(['secret-0', 'secret-1', 'secret-2', 'secret-3', 'secret-4']);
    delete process.env.KS_T_JUMP_PW;
    expect(targetSecrets(target)).toHaveLength(4);
  });
});
