// The inbound checks' own thread (worker_threads): SPF, DKIM, DMARC and ARC run here, beside the event loop that
// every session shares. The messages come in as they arrive (in batches of up to 64 KiB), the verdicts go back. See
// threaded-checks.ts for why, and for the other side of this dialogue.
import { parentPort, workerData } from 'node:worker_threads';
import { DnsResolver } from '../dns/dns-resolver.js';
import { nodeStyleResolve } from '../dns/node-style-resolve.js';
import { InboundChecks, type MessageChecks } from './message-checks.js';
import type { CheckStep, ChecksThreadData, FromChecksThread, ThreadVerdict, ToChecksThread } from './checks-thread-messages.js';

const port = parentPort;
if (port === null) throw new Error('checks-thread.js runs as a worker thread');
const data = workerData as ChecksThreadData;

/** Lookups that went to the network since the last answer: sent with the next one, for the program's metrics. */
let lookups: [string, string][] = [];
const dns = new DnsResolver({ ...data.dns, onLookup: (type, result) => lookups.push([type, result]) });
const checks = new InboundChecks({ resolve: nodeStyleResolve(dns), hostname: data.hostname, dmarcPolicy: data.dmarcPolicy });
const runs = new Map<number, MessageChecks>();

// What goes back is gathered for a turn of this thread's loop, then sent as one message (setImmediate runs once the
// verdicts that need no network, which resolve in microtasks, are all in): the event loop is woken once for them.
let read = 0;
let verdicts: ThreadVerdict[] = [];
let answerDue = false;
function answer(): void {
  answerDue = false;
  const m: FromChecksThread = { read, verdicts, lookups };
  read = 0;
  verdicts = [];
  lookups = [];
  port?.postMessage(m);
}
function later(): void {
  if (answerDue) return;
  answerDue = true;
  setImmediate(answer);
}

function step(m: CheckStep): void {
  let run = runs.get(m.id);
  if (m.facts !== undefined) {
    run = checks.start(m.facts);
    runs.set(m.id, run);
  }
  for (const c of m.chunks) {
    run?.write(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    read += c.byteLength;
  }
  if (run === undefined || m.abort === true) {
    // Aborted, or finished: nothing more is expected from it; what it sent is done with all the same.
    runs.delete(m.id);
  } else if (m.end === true) {
    runs.delete(m.id);
    void run.finish().then((o) => {
      verdicts.push({ id: m.id, outcome: { header: o.header, verdict: o.verdict, reply: o.reply, summary: o.summary, ...(o.error === undefined ? {} : { error: o.error.message }) } });
      later();
    });
  }
}

port.on('message', (steps: ToChecksThread) => {
  for (const s of steps) step(s);
  if (read > 0) later();
});
