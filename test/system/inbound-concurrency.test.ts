// Many sessions at once: every message stored exactly once, under a unique name (the Maildir counter is shared).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { startFacteur, type Facteur } from '../helpers/facteur.js';
import { MAILDIR_NAME, readMail, splitMessage } from '../helpers/maildir.js';

const SESSIONS = 200;

describe('inbound concurrency', () => {
  let facteur: Facteur;
  before(async () => {
    facteur = await startFacteur();
  });
  after(() => facteur.stop());

  test(`${SESSIONS} concurrent nodemailer sessions, one message each: ${SESSIONS} files, each message once`, async () => {
    const sends = Array.from({ length: SESSIONS }, (_, i) => {
      // One transport per message: one connection each, all open at the same time.
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: facteur.port('plain'), secure: false, tls: { rejectUnauthorized: false } });
      return transport.sendMail({
        envelope: { from: `sender${i}@client.example`, to: ['alice@example.org'] },
        raw: `Subject: message ${i}\r\nMessage-ID: <m${i}@client.example>\r\n\r\nmarker-${i}\r\n`,
      });
    });
    const results = await Promise.allSettled(sends);
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${i}: ${String(r.reason)}`] : []));
    assert.deepEqual(failures, [], 'every send succeeds');

    const files = await readMail(facteur.maildirRoot, 'alice');
    assert.equal(files.length, SESSIONS);
    const counters = new Set<string>();
    for (const f of files) {
      const m = MAILDIR_NAME.exec(f.name);
      assert.ok(m !== null, `Maildir name ${f.name}`);
      counters.add(m[4]!);
    }
    assert.equal(counters.size, SESSIONS, 'the Q counter is unique across sessions');

    const seen = new Map<number, number>();
    for (const f of files) {
      const body = splitMessage(f.content).body;
      const m = /^marker-(\d+)\n$/.exec(body);
      assert.ok(m !== null, `unexpected body ${JSON.stringify(body)} in ${f.name}`);
      const n = Number(m[1]);
      assert.match(f.content.toString('utf8'), new RegExp(`\\nSubject: message ${n}\\n`));
      assert.match(f.content.toString('utf8'), new RegExp(`^Return-Path: <sender${n}@client\\.example>\\n`));
      seen.set(n, (seen.get(n) ?? 0) + 1);
    }
    for (let i = 0; i < SESSIONS; i++) assert.equal(seen.get(i), 1, `message ${i} stored exactly once`);
  });
});
