// A stand-in for src/mailauth/signing-thread.ts that speaks its protocol but dies (the whole thread) when a request's
// data begins with "crash", never answers one that begins with "hang", and otherwise answers "fixture N" in place
// of a signature, N being the number of requests that came in the same message: for the tests of what
// ThreadedSigning does when its thread dies, and of how it gathers requests.
import { parentPort } from 'node:worker_threads';
import type { SignAnswer, SignRequest } from '../../src/mailauth/signing-thread.js';

const port = parentPort;
if (port === null) throw new Error('a worker thread');
port.on('message', (requests: readonly SignRequest[]) => {
  const answers: SignAnswer[] = [];
  for (const r of requests) {
    const text = Buffer.from(r.data).toString('latin1');
    if (text.startsWith('crash')) throw new Error('the fixture thread crashes on purpose');
    if (!text.startsWith('hang')) answers.push({ id: r.id, signature: Buffer.from(`fixture ${requests.length}`) });
  }
  port.postMessage(answers);
});
