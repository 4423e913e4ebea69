// SIGKILL in the middle of a burst: every message that got its 250 is in new/, whole; nothing partial is ever in new/.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prepareFacteur, spawnFacteur } from '../helpers/facteur.js';
import { listMail, readMail, splitMessage } from '../helpers/maildir.js';
import { sendTransaction, SmtpDialog } from '../helpers/smtp-dialog.js';

const CONNECTIONS = 20;
const PER_CONNECTION = 15; // 300 messages in all
const KILL_AFTER = 100; // 250 replies

/** The text of message n, CRLF, about 4 KB so that a torn write would show. */
function messageText(n: number): string {
  const lines = [`Subject: burst ${n}`, `X-Marker: m${n}`, ''];
  for (let i = 0; i < 50; i++) lines.push(`m${n} line ${i} ${'0123456789abcdef'.repeat(4)}`);
  return `${lines.join('\r\n')}\r\n`;
}

/** What the stored body of message n must be: the body, LF endings. */
const expectedBody = (n: number): string => splitMessage(messageText(n).replaceAll('\r\n', '\n')).body;

test('SIGKILL during a burst of 300 messages over 20 connections loses no acknowledged message', async (t) => {
  const prepared = await prepareFacteur();
  t.after(() => prepared.cleanup());
  const facteur = await spawnFacteur(prepared.configPath);
  t.after(() => facteur.kill());
  const port = facteur.port('plain');

  const acked = new Set<number>();
  let killed = false;
  const worker = async (w: number): Promise<void> => {
    const d = await SmtpDialog.connect(port);
    try {
      await d.expect(220);
      await d.command(`EHLO client${w}.example`);
      await d.expect(250);
      for (let k = 0; k < PER_CONNECTION && !killed; k++) {
        const n = w * PER_CONNECTION + k;
        const final = await sendTransaction(d, { from: `sender${w}@client.example`, to: ['alice@example.org'], text: messageText(n) });
        assert.equal(final.code, 250, final.lines.join(' '));
        acked.add(n);
        if (acked.size >= KILL_AFTER && !killed) {
          killed = true;
          facteur.child.kill('SIGKILL');
        }
      }
    } finally {
      d.close();
    }
  };
  const results = await Promise.allSettled(Array.from({ length: CONNECTIONS }, (_, w) => worker(w)));
  const exit = await facteur.exited;
  assert.equal(exit.signal, 'SIGKILL', 'the process was killed, not finished');
  assert.ok(killed);
  // Only the kill may have broken a session (a reset or a close while waiting for a reply).
  for (const r of results) if (r.status === 'rejected') assert.doesNotMatch(String(r.reason), /expected 250|AssertionError/);
  assert.ok(acked.size >= KILL_AFTER && acked.size < CONNECTIONS * PER_CONNECTION, `killed in the middle (${acked.size} acknowledged)`);

  const files = await readMail(prepared.maildirRoot, 'alice');
  const stored = new Map<number, number>();
  for (const f of files) {
    const { header, body } = splitMessage(f.content);
    const m = /\nX-Marker: m(\d+)\n/.exec(header);
    assert.ok(m !== null, `${f.name}: no marker, a partial header?`);
    const n = Number(m[1]);
    assert.equal(body, expectedBody(n), `${f.name}: message ${n} is not whole`);
    stored.set(n, (stored.get(n) ?? 0) + 1);
  }
  for (const [n, count] of stored) assert.equal(count, 1, `message ${n} stored ${count} times`);
  const lost = [...acked].filter((n) => !stored.has(n));
  assert.deepEqual(lost, [], 'acknowledged messages missing from new/');
  // Files in tmp/ are allowed: Maildir readers ignore tmp/ (a cleaner may remove them after 36 hours).
  t.diagnostic(`${acked.size} acknowledged, ${files.length} in new/, ${(await listMail(prepared.maildirRoot, 'alice', 'tmp')).length} in tmp/`);
});
