// The queue's files: the envelope line of <id>.msg (encode, parse, read), the message after it (readBody), <id>.json.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeEnvelope, encodeState, parseEnvelope, parseState, readBody, readEnvelopeSync } from '../../../src/outbound/queue-file.js';
import { newRecipient, type QueueItem } from '../../../src/outbound/queue-item.js';
import { addr, collectBody, SAMPLE_BODY, T0 } from '../../helpers/queue-fixtures.js';
import { tempDir } from '../../helpers/temp-dir.js';

function sampleItem(recipients: readonly string[], size = 0): QueueItem {
  return {
    id: '0abcdef12345',
    from: 'alice@origin.test',
    reversePath: addr('alice@origin.test'),
    created: new Date(T0).toISOString(),
    size,
    eightBit: true,
    smtputf8: false,
    recipients: recipients.map((r) => newRecipient(r, addr(r))),
  };
}

test('encodeEnvelope() is one line of JSON ending in LF, and parseEnvelope() gives the item back, every recipient pending', () => {
  const item = sampleItem(['bob@Dest.test', 'x\n\r\u0000y@dest.test']);
  const line = encodeEnvelope({ ...item, recipients: item.recipients.map((r) => ({ ...r, status: 'sent', attempts: 3 })) });
  assert.equal(line.indexOf(0x0a), line.length - 1, 'a single LF, at the end');
  const json = JSON.parse(line.toString('utf8')) as Record<string, unknown>;
  assert.equal(json.v, 1);
  assert.deepEqual(Object.keys(json).sort(), ['created', 'eightBit', 'from', 'id', 'recipients', 'reverse_path', 'smtputf8', 'v']);
  assert.deepEqual(parseEnvelope(line.toString('utf8', 0, line.length - 1), 1234), { ...item, size: 1234 }, 'the state is not in the line');
});

test('parseEnvelope() refuses what is not a version 1 envelope', () => {
  const good = JSON.parse(encodeEnvelope(sampleItem(['bob@dest.test'])).toString()) as Record<string, unknown>;
  assert.throws(() => parseEnvelope('not json', 0), SyntaxError);
  for (const bad of [{ ...good, v: 2 }, { ...good, v: undefined }, { ...good, id: '../x' }, { ...good, recipients: [] }, { ...good, created: 'yesterday' }, { ...good, from: undefined }]) {
    assert.throws(() => parseEnvelope(JSON.stringify(bad), 0), /not a queue envelope/, JSON.stringify(bad).slice(0, 80));
  }
});

test('readEnvelopeSync() reads the first line, short or longer than its first read, and the message size', async (t) => {
  const dir = await tempDir(t);
  const cases = [
    ['short', ['bob@dest.test']],
    // About 200 KiB of envelope: the line spans several reads.
    ['long', Array.from({ length: 2500 }, (_, i) => `recipient-${i}@a-domain-name-long-enough.example`)],
  ] as const;
  for (const [name, recipients] of cases) {
    const body = Buffer.from(`${SAMPLE_BODY}${'x'.repeat(100_000)}\n`);
    const item = sampleItem(recipients, body.length);
    const path = join(dir, `${name}.msg`);
    await writeFile(path, Buffer.concat([encodeEnvelope(item), body]));
    assert.deepEqual(readEnvelopeSync(path), item, name);
    assert.ok((await collectBody(readBody(path, true))).equals(body), `${name}: the body, without the envelope`);
  }
});

test('a file without a complete first line is refused', async (t) => {
  const dir = await tempDir(t);
  for (const [name, content] of [
    ['empty', ''],
    ['nolf', '{"v":1,"id":"0abcdef12345"'],
    ['notjson', 'Subject: hi\n\nbody\n'],
  ] as const) {
    const path = join(dir, `${name}.msg`);
    await writeFile(path, content);
    assert.throws(() => readEnvelopeSync(path), name);
  }
  await assert.rejects(collectBody(readBody(join(dir, 'nolf.msg'), true)), /ends before the end of its envelope line/);
});

test('readBody() of a file written by facteur 0.1 (no envelope line) gives the whole file; a missing file rejects', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'old.eml');
  const body = Buffer.from(`${SAMPLE_BODY}${'y'.repeat(70_000)}\n`);
  await writeFile(path, body);
  assert.ok((await collectBody(readBody(path, false))).equals(body));
  await assert.rejects(collectBody(readBody(join(dir, 'gone.msg'), true)), { code: 'ENOENT' });
});

test('encodeState() writes the on-disk names (snake_case, as facteur 0.1 did), parseState() reads them back into the item', () => {
  const item = sampleItem(['bob@dest.test', 'carol@dest.test'], 42);
  const tried: QueueItem = {
    ...item,
    recipients: [
      { ...(item.recipients[0] as QueueItem['recipients'][number]), status: 'deferred', attempts: 2, nextAttempt: new Date(T0 + 60_000).toISOString(), lastError: '451 later', diagnostic: '451 later', remoteMta: 'mx.dest.test', lastAttempt: new Date(T0).toISOString() },
      { ...(item.recipients[1] as QueueItem['recipients'][number]), status: 'failed', attempts: 1, lastError: '550 no', diagnostic: '550 no', dsnStatus: '5.0.0', bounced: true },
    ],
  };
  const text = encodeState(tried);
  const json = JSON.parse(text) as Record<string, unknown> & { recipients: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(json), ['id', 'from', 'reverse_path', 'created', 'size', 'eightBit', 'smtputf8', 'recipients']);
  assert.deepEqual(Object.keys(json.recipients[0] ?? {}), ['address', 'local', 'domain', 'status', 'attempts', 'next_attempt', 'last_error', 'diagnostic', 'remote_mta', 'last_attempt', 'dsn_status']);
  assert.equal(json.recipients[1]?.bounced, true);
  assert.equal(json.recipients[0]?.next_attempt, tried.recipients[0]?.nextAttempt);
  assert.deepEqual(parseState(text), tried);
  assert.throws(() => parseState(JSON.stringify({ ...json, recipients: [] })), /not a queue item/);
});
