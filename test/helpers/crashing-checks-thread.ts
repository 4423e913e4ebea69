// A stand-in for src/mailauth/checks-thread.ts that speaks its protocol but dies (the whole thread) when a message
// says HELO "crash.example", reads the steps of a message that says HELO "slow.example" only a few milliseconds
// after they come (a thread that is behind), and answers every message "accept" with the summary "fixture" (its
// header says how many steps came in the same message as its last one): for the tests of what ThreadedChecks does
// when its thread dies or lags, and of how it gathers steps.
import { parentPort } from 'node:worker_threads';
import type { CheckStep, FromChecksThread, ToChecksThread } from '../../src/mailauth/checks-thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('a worker thread');
const crashing = new Set<number>();
const slow = new Set<number>();
const answer = (m: FromChecksThread) => port.postMessage(m);
function step(m: CheckStep, batch: number): void {
  if (m.facts?.helo === 'crash.example') crashing.add(m.id);
  if (m.facts?.helo === 'slow.example') slow.add(m.id);
  const read = m.chunks.reduce((n, c) => n + c.byteLength, 0);
  if (m.end !== true) {
    const ack = () => answer({ read, verdicts: [], lookups: [] });
    if (slow.has(m.id)) setTimeout(ack, 5);
    else ack();
    return;
  }
  if (crashing.has(m.id)) throw new Error('the fixture thread crashes on purpose');
  answer({ read, verdicts: [{ id: m.id, outcome: { header: `Authentication-Results: fixture; none (steps in its batch: ${batch})`, verdict: 'accept', reply: null, summary: 'fixture' } }], lookups: [['TXT', 'ok']] });
}
port.on('message', (steps: ToChecksThread) => {
  for (const m of steps) step(m, steps.length);
});
