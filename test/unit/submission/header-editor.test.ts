// The streaming header step: what it finds and where it adds fields, whatever the chunk boundaries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderEditor, type HeaderFacts } from '../../../src/submission/header-editor.js';

/** Runs `text` through an editor cut into pieces at `cuts`; returns the output and the facts seen. */
function run(text: string, cuts: readonly number[], add = 'X-Added: 1\n'): { out: string; facts: HeaderFacts | null } {
  let facts: HeaderFacts | null = null;
  const editor = new HeaderEditor((f) => {
    assert.equal(facts, null, 'additions asked for once');
    facts = f;
    return add;
  });
  const bytes = Buffer.from(text);
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...editor.push(bytes.subarray(at, cut)));
    at = cut;
  }
  out.push(...editor.end());
  return { out: Buffer.concat(out).toString(), facts };
}

/** Every way of cutting `text` in two, and in single bytes. */
function cuttings(text: string): number[][] {
  const n = Buffer.byteLength(text);
  return [[], ...Array.from({ length: n - 1 }, (_, i) => [i + 1]), Array.from({ length: n - 1 }, (_, i) => i + 1)];
}

const cases: { name: string; text: string; want: string; from?: (string | null)[]; date?: boolean; id?: boolean }[] = [
  {
    name: 'fields, the empty line, a body: the additions go before the empty line',
    text: 'Received: from x\n\tby y\nFrom: Alice <a@b.example>\nSubject: hi\n\nbody\nFrom: not a header\n',
    want: 'Received: from x\n\tby y\nFrom: Alice <a@b.example>\nSubject: hi\nX-Added: 1\n\nbody\nFrom: not a header\n',
    from: ['Alice <a@b.example>'],
  },
  {
    name: 'a folded From: is unfolded; Date and Message-ID are seen whatever their case',
    text: 'from: "Smith, A"\n <a@b.example>,\n\tc@d.example\nDATE: x\nmessage-id: <1@x>\n\nb\n',
    want: 'from: "Smith, A"\n <a@b.example>,\n\tc@d.example\nDATE: x\nmessage-id: <1@x>\nX-Added: 1\n\nb\n',
    from: ['"Smith, A" <a@b.example>,\tc@d.example'],
    date: true,
    id: true,
  },
  {
    name: 'no empty line before the body: one is put there',
    text: 'Subject: s\nHello there\nmore\n',
    want: 'Subject: s\nX-Added: 1\n\nHello there\nmore\n',
  },
  {
    name: 'a line with a colon after a space is not a field name',
    text: 'Subject: s\nnot a: field\n',
    want: 'Subject: s\nX-Added: 1\n\nnot a: field\n',
  },
  {
    name: 'white space before the colon is the obsolete syntax of a field (RFC 5322 §4.5.3)',
    text: 'From : a@b.example\n\n',
    want: 'From : a@b.example\nX-Added: 1\n\n',
    from: ['a@b.example'],
  },
  { name: 'only fields, no body: the additions go at the end', text: 'Subject: s\nTo: x@y\n', want: 'Subject: s\nTo: x@y\nX-Added: 1\n' },
  { name: 'an empty message', text: '', want: 'X-Added: 1\n' },
  { name: 'an empty header section', text: '\nbody\n', want: 'X-Added: 1\n\nbody\n' },
  { name: 'a line of 8-bit text first is body', text: 'h\u00e9llo: x\n', want: 'X-Added: 1\n\nh\u00e9llo: x\n' },
];

for (const c of cases) {
  test(`header editor: ${c.name}`, () => {
    for (const cuts of cuttings(c.text)) {
      const { out, facts } = run(c.text, cuts);
      assert.equal(out, c.want, `cut at ${cuts.join(',')}`);
      assert.deepEqual(facts, { from: c.from ?? [], hasDate: c.date ?? false, hasMessageId: c.id ?? false }, `cut at ${cuts.join(',')}`);
    }
  });
}

test('header editor: the body passes through untouched and unheld once the header has ended', () => {
  const editor = new HeaderEditor(() => '');
  editor.push(Buffer.from('A: b\n\n'));
  const chunk = Buffer.from('x'.repeat(100_000));
  const out = editor.push(chunk);
  assert.equal(out.length, 1);
  assert.equal(out[0], chunk);
  assert.deepEqual(editor.end(), []);
});

test('header editor: a From: too long to read is reported as null, not kept', () => {
  const long = `From: ${'a'.repeat(20_000)}@b.example\n\n`;
  assert.deepEqual(run(long, [100, 10_000]).facts?.from, [null]);
});

test('header editor: a refusal thrown by the additions comes out of push', () => {
  const editor = new HeaderEditor(() => {
    throw new Error('not yours');
  });
  assert.equal(Buffer.concat(editor.push(Buffer.from('From: x@y\n'))).toString(), 'From: x@y\n');
  assert.throws(() => editor.push(Buffer.from('\nbody\n')), /not yours/);
});
