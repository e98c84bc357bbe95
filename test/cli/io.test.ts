import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/cli/io.js';

describe('formatTable', () => {
  it('shows each cell escaped, newlines included, and lines the columns up on what is shown', () => {
    const table = formatTable(
      ['NAME', 'DETAIL'],
      [
        ['a\x1b[2J', 'one\nVerdict: all ok\u202e'],
        ['bb', 'two'],
      ],
    );
    expect(table.split('\n')).toEqual(['NAME      DETAIL', 'a\\x1b[2J  one\\x0aVerdict: all ok\\u202e', 'bb        two']);
  });
});
