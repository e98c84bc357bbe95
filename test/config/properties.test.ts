import { describe, expect, it } from 'vitest';
import { parseProperties, propertyValues } from '../../src/config/properties.js';

const parse = (text: string) => parseProperties(text, 'config.properties');

describe('parseProperties', () => {
  it('reads key=value lines like gen-config.sh: comments and blank lines skipped, key before the first =', () => {
    const { properties, problems } = parse('# comment\n\nBIN_PATH=/opt/kube/bin\n  # indented comment\nETCD_ENDPOINTS=https://a:2379,https://b:2379\nOPTS=--a=1 --b=2\n');
    expect(problems).toEqual([]);
    expect(propertyValues(properties)).toEqual({
      BIN_PATH: '/opt/kube/bin',
      ETCD_ENDPOINTS: 'https://a:2379,https://b:2379',
      OPTS: '--a=1 --b=2',
    });
    expect(properties.entries.get('OPTS')?.line).toBe(6);
  });

  it('keeps values byte for byte: leading blanks after =, quotes, backslashes, empty values', () => {
    const { properties } = parse('A= spaced\nB="quoted"\nC=back\\slash&amp\nD=\n');
    expect(propertyValues(properties)).toEqual({ A: ' spaced', B: '"quoted"', C: 'back\\slash&amp', D: '' });
  });

  it('trims blanks around the whole line, as bash read does', () => {
    expect(propertyValues(parse('  \tKEY=value \t\n').properties)).toEqual({ KEY: 'value' });
  });

  it('reads CRLF files and a UTF-8 byte-order mark without leaving \\r in values', () => {
    const { properties, problems } = parse('\uFEFF# c\r\nA=1\r\nB=two words\r\n');
    expect(problems).toEqual([]);
    expect(propertyValues(properties)).toEqual({ A: '1', B: 'two words' });
  });

  it('reads the last line without a trailing newline', () => {
    expect(propertyValues(parse('A=1\nB=2').properties)).toEqual({ A: '1', B: '2' });
  });

  it('reports a duplicate key with both line numbers', () => {
    const { problems } = parse('A=1\nB=2\nA=3\n');
    expect(problems).toHaveLength(1);
    expect(problems[0]!.format()).toBe('config.properties:3 A: is set twice (line 1 and line 3)\n  fix: keep one of the two lines; gen-config.sh silently used the last one');
  });

  it('reports a line without = and says how to fix it', () => {
    const { problems } = parse('A=1\nthis is not a setting\n');
    expect(problems[0]!.where()).toBe('config.properties:2');
    expect(problems[0]!.message).toContain('"this is not a setting" has no "="');
    expect(problems[0]!.hint).toContain('KEY=value');
  });

  it('reports blanks around = (the key would never match its {{KEY}})', () => {
    const { problems } = parse('MASTER_IP = 10.0.0.1\n');
    expect(problems[0]!.where()).toBe('config.properties:1 MASTER_IP');
    expect(problems[0]!.hint).toBe('write MASTER_IP=10.0.0.1 (no blanks around "=")');
  });

  it.each([
    ['=value', 'the key is missing'],
    ['1KEY=value', '"1KEY" is not a valid key'],
    ['-KEY=value', '"-KEY" is not a valid key'],
    ['KEY*=value', '"KEY*" is not a valid key'],
    ['KEY NAME=value', '"KEY NAME" is not a valid key'],
  ])('rejects the malformed key in %j', (line, message) => {
    const { problems } = parse(`${line}\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toContain(message);
    expect(problems[0]!.line).toBe(1);
  });

  it('accepts Java-style keys with dots and dashes, as gen-config.sh did', () => {
    expect(propertyValues(parse('etcd.name=node1\nmy-key=x\n').properties)).toEqual({ 'etcd.name': 'node1', 'my-key': 'x' });
  });

  it('reports every problem of the file in one pass', () => {
    const { problems } = parse('bad\nA=1\nA=2\n=x\n');
    expect(problems.map((p) => p.line)).toEqual([1, 3, 4]);
  });
});
