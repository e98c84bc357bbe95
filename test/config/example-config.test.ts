import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KNOWN_KEYS } from '../../src/config/keys.js';
import { parseProperties, propertyValues } from '../../src/config/properties.js';

describe('config.example.properties', () => {
  const text = readFileSync('config.example.properties', 'utf8');
  const { properties, problems } = parseProperties(text, 'config.example.properties');
  const lines = text.split('\n');

  it('parses cleanly and sets every known key to its default', () => {
    expect(problems).toEqual([]);
    const defaults = Object.fromEntries(Object.entries(KNOWN_KEYS).map(([key, spec]) => [key, spec.default]));
    expect(propertyValues(properties)).toEqual(defaults);
  });

  it.each(Object.keys(KNOWN_KEYS))('documents %s in a comment with an example right above it', (key) => {
    const line = properties.entries.get(key)!.line;
    const comment: string[] = [];
    for (let i = line - 2; i >= 0 && lines[i]!.startsWith('#'); i--) comment.unshift(lines[i]!);
    expect(comment.length).toBeGreaterThan(0);
    expect(comment.join('\n')).toMatch(/eg: \S/);
  });
});
