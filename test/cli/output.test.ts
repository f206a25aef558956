/** The table renderer and the colour rules (no services needed). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTable, styler } from '../../src/cli/output.ts';

const rows = [
  { name: 'compute1', state: 'up', n: 3 },
  { name: 'c2', state: 'down', n: 12 },
];
const columns = [
  { header: 'NAME', value: (r: (typeof rows)[number]) => r.name },
  { header: 'N', value: (r: (typeof rows)[number]) => String(r.n), align: 'right' as const },
  { header: 'STATE', value: (r: (typeof rows)[number]) => r.state, colour: (r: (typeof rows)[number]) => (r.state === 'up' ? ('green' as const) : ('red' as const)) },
];

describe('renderTable', () => {
  it('aligns columns, right-aligns numbers and leaves no trailing blanks', () => {
    assert.equal(renderTable(columns, rows), 'NAME       N  STATE\ncompute1   3  up\nc2        12  down\n');
  });

  it('prints the header alone for no rows, and keeps cells on one line', () => {
    assert.equal(renderTable(columns, []), 'NAME  N  STATE\n');
    assert.equal(renderTable([{ header: 'A', value: (s: string) => s }], ['one\ntwo']), 'A\none two\n');
  });

  it('colours only a terminal without NO_COLOR, and colour never shifts the alignment', () => {
    assert.equal(styler({ write: () => true }, {}).enabled, false);
    assert.equal(styler({ write: () => true, isTTY: true }, { NO_COLOR: '1' }).enabled, false);
    const tty = styler({ write: () => true, isTTY: true }, {});
    assert.equal(tty.enabled, true);
    const text = renderTable(columns, rows, tty);
    assert.ok(text.includes('\u001b[32mup\u001b[0m'), JSON.stringify(text));
    // Without its colour codes, the coloured table is the plain one: same padding.
    assert.equal(text.replaceAll('\u001b[32m', '').replaceAll('\u001b[31m', '').replaceAll('\u001b[1m', '').replaceAll('\u001b[0m', ''), renderTable(columns, rows));
  });
});
