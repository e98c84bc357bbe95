import { createPrivateKey } from 'node:crypto';
import type { ParsedKey } from 'ssh2';

/**
 * A login key that signs from a KeyObject made once. ssh2 signs with the key's PEM text, which
 * OpenSSL 3 decodes anew for every login: 7 ms where signing from a KeyObject takes 0.5 (ed25519,
 * on a loaded 2-core machine), so most of a login's CPU and a second of a 1000-host run.
 *
 * ssh2's sign reads the PEM from a symbol-keyed property of the key; the returned key signs through
 * ssh2's own sign (its hash choice, its errors) with that property holding the KeyObject, which
 * node:crypto takes wherever it takes a PEM. A key whose PEM is not found there (another ssh2
 * version) is returned as it is.
 */
export function signingFromKeyObject(key: ParsedKey): ParsedKey {
  const pem = key.getPrivatePEM();
  const record = key as unknown as Record<symbol, unknown>;
  const slot = Object.getOwnPropertySymbols(key).find((s) => record[s] === pem);
  if (slot === undefined) return key;
  const withObject = Object.create(key, { [slot]: { value: createPrivateKey(pem) } }) as ParsedKey;
  const sign = key.sign;
  key.sign = (data, algo) => sign.call(withObject, data, algo);
  return key;
}
