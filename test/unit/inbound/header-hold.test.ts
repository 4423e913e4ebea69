// HeaderHold: the header section held back (whatever the chunking), edited on demand, and given up past its cap.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderHold, MAX_HELD_HEADER } from '../../../src/inbound/header-hold.js';

const MESSAGE = 'Received: from x\n\tby y\nSubject: old\n\tfolded\nX-Spam: forged\nFrom: a@b\n\nbody\n\nmore\n';

function run(chunks: readonly string[], remove: readonly string[] = []): { written: string; header: string } {
  const hold = new HeaderHold();
  const written = chunks.map((c) => hold.push(Buffer.from(c, 'latin1')).toString('latin1')).join('');
  return { written, header: hold.header(remove).toString('latin1') };
}

test('the header section is held whatever the chunk boundaries, the body written at once', () => {
  for (let cut = 0; cut <= MESSAGE.length; cut++) {
    const r = run([MESSAGE.slice(0, cut), MESSAGE.slice(cut)]);
    assert.equal(r.header + r.written, MESSAGE, `cut at ${cut}`);
    assert.equal(r.written, 'body\n\nmore\n', `cut at ${cut}`);
  }
  const bytes = [...MESSAGE].map((c) => c);
  assert.equal(run(bytes).written, 'body\n\nmore\n');
});

test('fields to remove go with their folded lines; names match case-insensitively; the empty line stays', () => {
  const r = run([MESSAGE], ['subject', 'X-SPAM']);
  assert.equal(r.header, 'Received: from x\n\tby y\nFrom: a@b\n\n');
});

test('a message without an empty line is all header; one larger than the cap is handed back unedited', () => {
  assert.deepEqual(run(['Subject: a\n', 'From: b\n']), { written: '', header: 'Subject: a\nFrom: b\n' });
  const hold = new HeaderHold();
  const big = `X-Big: ${'x'.repeat(MAX_HELD_HEADER)}\n`;
  assert.equal(hold.push(Buffer.from('Subject: a\n')).length, 0);
  assert.equal(hold.push(Buffer.from(big)).toString(), `Subject: a\n${big}`);
  assert.equal(hold.overflowed, true);
  assert.equal(hold.push(Buffer.from('\nbody\n')).toString(), '\nbody\n');
});
