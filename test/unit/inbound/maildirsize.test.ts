// maildirsize (Maildir++ quota file): parsing, the recalculation rules, and MaildirQuota over a real folder.
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MaildirQuota } from '../../../src/inbound/maildir-quota.js';
import {
  formatDefinition,
  formatMaildirsize,
  isOver,
  needsRecalculation,
  parseDefinition,
  parseMaildirsize,
  usageLine,
} from '../../../src/inbound/maildirsize.js';
import { silentLogger } from '../../../src/observability/logger.js';

test('quota definitions, both ways', () => {
  const cases: [string, { bytes: number; count: number } | null][] = [
    ['1073741824S', { bytes: 1073741824, count: 0 }],
    ['1000S,10C', { bytes: 1000, count: 10 }],
    ['10C,1000S', { bytes: 1000, count: 10 }],
    ['', { bytes: 0, count: 0 }],
    ['1000', null],
    ['1000X', null],
    ['-5S', null],
    ['1000S,', null],
  ];
  for (const [line, expected] of cases) assert.deepEqual(parseDefinition(line), expected, JSON.stringify(line));
  assert.equal(formatDefinition({ bytes: 1000, count: 0 }), '1000S');
  assert.equal(formatDefinition({ bytes: 1000, count: 10 }), '1000S,10C');
});

test('maildirsize: the definition, then lines summed; torn or bad files are not trusted', () => {
  const cases: [string, { bytes: number; count: number } | null][] = [
    ['1000S\n', { bytes: 0, count: 0 }],
    ['1000S\n300 2\n', { bytes: 300, count: 2 }],
    ['1000S\n300 2\n  50   1\n-100 -1\n', { bytes: 250, count: 2 }],
    ['1000S\n300 2', null], // the last line still being written
    ['1000S\n300\n', null],
    ['1000S\nabc 1\n', null],
    ['bogus\n1 1\n', null],
    ['', null],
  ];
  for (const [text, usage] of cases) assert.deepEqual(parseMaildirsize(text)?.usage ?? null, usage, JSON.stringify(text));
  assert.equal(formatMaildirsize({ bytes: 2048, count: 0 }, { bytes: 100, count: 3 }), '2048S\n100 3\n');
  assert.equal(usageLine(4096, 1), '4096 1\n');
});

test('when the file is recalculated', () => {
  const ours = { bytes: 1000, count: 0 };
  const now = 10_000_000;
  const fresh = { size: 20, mtimeMs: now };
  const parsed = (text: string) => parseMaildirsize(text);
  const cases: [string, ReturnType<typeof parseMaildirsize>, { size: number; mtimeMs: number }, boolean][] = [
    ['trusted', parsed('1000S\n10 1\n'), fresh, false],
    ['unreadable', null, fresh, true],
    ['larger than 5120 bytes', parsed('1000S\n10 1\n'), { size: 5121, mtimeMs: now }, true],
    ['another definition', parsed('2000S\n10 1\n'), fresh, true],
    ['negative totals', parsed('1000S\n-10 -1\n'), fresh, true],
    ['over quota, recent', parsed('1000S\n1001 1\n'), fresh, false],
    ['over quota, 15 minutes old', parsed('1000S\n1001 1\n'), { size: 20, mtimeMs: now - 15 * 60_000 - 1 }, true],
    ['under quota, old', parsed('1000S\n10 1\n'), { size: 20, mtimeMs: 0 }, false],
  ];
  for (const [name, p, file, expected] of cases) assert.equal(needsRecalculation(p, file, ours, now), expected, name);
  assert.equal(isOver({ bytes: 900, count: 1 }, ours, { bytes: 100, count: 1 }), false);
  assert.equal(isOver({ bytes: 900, count: 1 }, ours, { bytes: 101, count: 1 }), true);
  assert.equal(isOver({ bytes: 0, count: 5 }, { bytes: 0, count: 5 }, { bytes: 1, count: 1 }), true);
});

test('MaildirQuota: rebuilds from the folders (inbox and subfolders, ,S= names), then counts appended lines', async () => {
  const root = await mkdtemp(join(tmpdir(), 'facteur-quota-'));
  try {
    const box = join(root, 'alice');
    for (const d of ['new', 'cur', 'tmp', '.Junk/new', '.Junk/cur']) await mkdir(join(box, d), { recursive: true });
    await writeFile(join(box, 'new', '1.M1P1Q1.mx'), 'x'.repeat(100));
    await writeFile(join(box, 'cur', '2.M1P1.mx,S=250:2,S'), 'short'); // the name's size wins
    await writeFile(join(box, '.Junk', 'new', '3.M1P1Q2.mx'), 'y'.repeat(50));
    await writeFile(join(box, 'tmp', '4.M1P1Q3.mx'), 'z'.repeat(999)); // not delivered: not counted
    const quota = new MaildirQuota({ root, quotaOf: (m) => (m === 'alice' ? 1000 : 0), now: () => new Date(), logger: silentLogger() });
    assert.deepEqual(await quota.usage('alice'), { bytes: 400, count: 3 });
    assert.equal(await readFile(join(box, 'maildirsize'), 'utf8'), '1000S\n400 3\n');
    await Promise.all([quota.record('alice', 100), quota.record('alice', 100), quota.record('alice', 100)]);
    assert.deepEqual(await quota.usage('alice'), { bytes: 700, count: 6 });
    assert.equal(await quota.fits('alice', 300), true);
    assert.equal(await quota.fits('alice', 301), false);
    assert.equal(quota.has('bob'), false);
    assert.equal(await quota.fits('bob', 10 ** 9), true);
    // A file left torn by a crash is rebuilt, and its stale lines forgotten.
    await appendFile(join(box, 'maildirsize'), '5000');
    assert.deepEqual(await quota.usage('alice'), { bytes: 400, count: 3 });
    // Another definition (the quota changed in the config): rebuilt with ours.
    await writeFile(join(box, 'maildirsize'), '50S\n0 0\n');
    assert.deepEqual(await quota.usage('alice'), { bytes: 400, count: 3 });
    assert.match(await readFile(join(box, 'maildirsize'), 'utf8'), /^1000S\n/);
    // Over quota in a file older than 15 minutes: checked against the folders again.
    await writeFile(join(box, 'maildirsize'), '1000S\n5000 9\n');
    await utimes(join(box, 'maildirsize'), new Date(0), new Date(0));
    assert.deepEqual(await quota.usage('alice'), { bytes: 400, count: 3 });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
