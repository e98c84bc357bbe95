import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quote } from 'zx';
import { shJoin, shq } from '../../src/ssh/quote.js';
import { skipUnlessAvailable } from '../support/prerequisites.js';

/** Quoting must survive every POSIX shell the hosts use as `sh` (dash on Debian/Ubuntu, bash on EL). */

const values = ['plain', '', 'a b', "it's", 'x\ny', '$HOME `id` $(id) \\ "q" * ? ; & | > < ~ # !', '-n', 'tab\there', 'ünï'];
const shells = ['dash', 'bash', 'sh'].filter((s) => spawnSync(s, ['-c', 'true']).status === 0);

function echoThrough(shell: string, quoted: string): string {
  return spawnSync(shell, ['-c', `printf '%s' ${quoted}`], { encoding: 'utf8' }).stdout;
}

describe('shq', () => {
  for (const shell of shells) {
    it(`round-trips every value through ${shell}`, () => {
      for (const v of values) expect(echoThrough(shell, shq(v))).toBe(v);
    });
  }

  it('leaves safe words alone and joins arguments', () => {
    expect(shq('/etc/kubernetes/admin.conf')).toBe('/etc/kubernetes/admin.conf');
    expect(shq('a=b')).toBe("'a=b'"); // never an assignment when it lands in command position
    expect(shJoin(['chmod', '0644', '/tmp/a b'])).toBe("chmod 0644 '/tmp/a b'");
  });

  it.skipIf(skipUnlessAvailable(shells.includes('dash'), 'dash, the /bin/sh of Debian and Ubuntu'))("is needed because zx's quote emits $'...' that dash does not understand", () => {
    expect(echoThrough('dash', quote('a b'))).not.toBe('a b');
  });
});
