import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { signingFromKeyObject } from '../../src/ssh/signing-key.js';

describe('signingFromKeyObject', () => {
  const pairs = {
    ed25519: () => ssh2.utils.generateKeyPairSync('ed25519'),
    ecdsa: () => ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 }),
    rsa: () => ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 }),
  };

  it.each(Object.keys(pairs) as Array<keyof typeof pairs>)('signs with a %s key what its public key verifies, as ssh2 signs it', (type) => {
    const pair = pairs[type]();
    const parse = () => ssh2.utils.parseKey(pair.private) as ssh2.ParsedKey;
    const key = signingFromKeyObject(parse());
    // This ssh2's PEM slot was found: the key signs through its own KeyObject.
    expect(Object.hasOwn(key, 'sign')).toBe(true);
    const data = Buffer.from('session id and userauth request');
    const publicKey = ssh2.utils.parseKey(pair.public) as ssh2.ParsedKey;
    for (const algo of type === 'rsa' ? ['sha256', 'sha512', undefined] : [undefined]) {
      const signature = key.sign(data, algo);
      expect(signature).toBeInstanceOf(Buffer);
      expect(publicKey.verify(data, signature, algo)).toBe(true);
      // Deterministic schemes (ed25519, RSA PKCS#1 v1.5) give ssh2's own bytes.
      if (type !== 'ecdsa') expect(signature).toEqual(parse().sign(data, algo));
    }
  });
});
