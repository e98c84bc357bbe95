import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { printError } from '../src/cli/io.js';
import { ConfigError } from '../src/errors.js';
import { describeControl, displayFilter, printable, redactor } from '../src/printable.js';

describe('printable', () => {
  it('escapes escape sequences, carriage returns, C1 controls and bidi overrides; keeps tabs and newlines', () => {
    expect(printable('a\x1b[31mred\r\tb\nc\x9bd\u202ee\x7f')).toBe('a\\x1b[31mred\\x0d\tb\nc\\x9bd\\u202ee\\x7f');
    expect(printable('line1\nline2', { keepNewlines: false })).toBe('line1\\x0aline2');
    expect(printable('plain ünïcode, 中文')).toBe('plain ünïcode, 中文');
  });

  it('escapes the bidi marks, embeddings and isolates, and the invisible characters that make names look alike', () => {
    expect(printable('a‎b‏c؜d⁦e⁩f‪g')).toBe('a\\u200eb\\u200fc\\u061cd\\u2066e\\u2069f\\u202ag');
    expect(printable('w​1‍⁠﻿ x y z')).toBe('w\\u200b1\\u200d\\u2060\\ufeff x\\u2028y\\u2029z');
  });

  it('names a control character for a message', () => {
    expect(describeControl('ok')).toBeUndefined();
    expect(describeControl('a\rb')).toBe('\\x0d (carriage return)');
    expect(describeControl('a\x01')).toBe('\\x01');
  });

  it('redacts longer secrets first, then escapes', () => {
    expect(redactor(['pw', 'pw-long'])('x pw-long pw')).toBe('x ******** ********');
    expect(displayFilter(['s3cr\x1bt'])('[s3cr\x1bt] \x1b')).toBe('[********] \\x1b');
  });

  it('is what printError shows of a message quoting a hostile value', () => {
    const chunks: string[] = [];
    const sink = new Writable({ write: (c: Buffer, _e, done) => (chunks.push(c.toString()), done()) });
    printError({ stdout: sink, stderr: sink }, new ConfigError('c.properties', 3, 'X', '"\x1b]0;pwned\x07" is not valid'));
    expect(chunks.join('')).toBe('error: c.properties:3 X: "\\x1b]0;pwned\\x07" is not valid\n');
  });
});
