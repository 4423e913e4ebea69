// A stand-in for src/mailauth/checks-thread.ts that speaks its protocol but dies (the whole thread) when a message
// says HELO "crash.example", and otherwise answers every message "accept" with the summary "fixture": for the tests of
// what ThreadedChecks does when its thread dies.
import { parentPort } from 'node:worker_threads';
import type { FromChecksThread, ToChecksThread } from '../../src/mailauth/checks-thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('a worker thread');
const crashing = new Set<number>();
port.on('message', (m: ToChecksThread) => {
  if (m.facts?.helo === 'crash.example') crashing.add(m.id);
  if (m.end !== true) return;
  if (crashing.has(m.id)) throw new Error('the fixture thread crashes on purpose');
  const reply: FromChecksThread = { id: m.id, outcome: { header: 'Authentication-Results: fixture; none', verdict: 'accept', reply: null, summary: 'fixture' }, lookups: [['TXT', 'ok']] };
  port.postMessage(reply);
});
