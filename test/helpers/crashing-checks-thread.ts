// A stand-in for src/mailauth/checks-thread.ts that speaks its protocol but dies (the whole thread) when a message
// says HELO "crash.example", reads the steps of a message that says HELO "slow.example" only a few milliseconds
// after they come (a thread that is behind), and answers every message "accept" with the summary "fixture": for
// the tests of what ThreadedChecks does when its thread dies or lags.
import { parentPort } from 'node:worker_threads';
import type { FromChecksThread, ToChecksThread } from '../../src/mailauth/checks-thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('a worker thread');
const crashing = new Set<number>();
const slow = new Set<number>();
port.on('message', (m: ToChecksThread) => {
  if (m.facts?.helo === 'crash.example') crashing.add(m.id);
  if (m.facts?.helo === 'slow.example') slow.add(m.id);
  const read = m.chunks.reduce((n, c) => n + c.byteLength, 0);
  if (m.end !== true) {
    const ack = () => port.postMessage({ id: m.id, read } satisfies FromChecksThread);
    if (slow.has(m.id)) setTimeout(ack, 5);
    else ack();
    return;
  }
  if (crashing.has(m.id)) throw new Error('the fixture thread crashes on purpose');
  const reply: FromChecksThread = { id: m.id, read, outcome: { header: 'Authentication-Results: fixture; none', verdict: 'accept', reply: null, summary: 'fixture' }, lookups: [['TXT', 'ok']] };
  port.postMessage(reply);
});
