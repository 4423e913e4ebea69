// The CPU cost of mail authentication per 4 KiB message, in-process: DKIM signing (RSA-2048, Ed25519, both) as the
// relay would do it, and the inbound checks (SPF for MAIL FROM and HELO, DKIM, DMARC, ARC) on a message unsigned, with
// one rsa-sha256 signature (most mail) and with two, the DNS answered from memory (the program-wide resolver caches
// answers; this measures our side only).
// Run: npm run build && node dist/bench/mailauth-cost.js [--messages N] [--concurrency C] [--only TEXT] (--only: the
// measures whose name contains TEXT, e.g. "1 signature", for a profile of one case)
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { DkimKeys, type DkimKey } from '../src/mailauth/dkim-keys.js';
import { DkimSigner } from '../src/mailauth/dkim-signer.js';
import { InboundChecks } from '../src/mailauth/message-checks.js';
import { ThreadedChecks } from '../src/mailauth/threaded-checks.js';
import { DnsStub, type Zone } from './dns-stub.js';
import { threadCpuMs } from './proc-stats.js';
import { buildMessage } from './message.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const MESSAGES = option('--messages', 2000);
const CONCURRENCY = option('--concurrency', 8);
const ONLY = args.includes('--only') ? String(args[args.indexOf('--only') + 1]) : null;

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const key = (selector: string, privateKey: KeyObject, algorithm: DkimKey['algorithm']): DkimKey => ({ domain: 'example.org', selector, algorithm, privateKey, file: '' });
const KEYS = {
  rsa: new DkimKeys([key('r', rsa.privateKey, 'rsa-sha256')]),
  ed25519: new DkimKeys([key('e', ed.privateKey, 'ed25519-sha256')]),
  both: new DkimKeys([key('r', rsa.privateKey, 'rsa-sha256'), key('e', ed.privateKey, 'ed25519-sha256')]),
};

// The message as the relay stores it (LF endings), cut in the 16 KiB chunks a socket would give.
const built = buildMessage(4096, 'alice@example.org', 'bob@example.net');
const MESSAGE = Buffer.from((built.whole as Buffer).subarray(0, built.size).toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
const chunks = (m: Buffer) => Array.from({ length: Math.ceil(m.length / 16384) }, (_, i) => m.subarray(i * 16384, (i + 1) * 16384));

const ZONE: Record<string, Record<string, unknown>> = {
  'example.org': { TXT: [['v=spf1 ip4:192.0.2.0/24 -all']] },
  'mail.example.org': { TXT: [['v=spf1 a -all']], A: ['192.0.2.10'], AAAA: [] },
  '_dmarc.example.org': { TXT: [['v=DMARC1; p=reject']] },
  'r._domainkey.example.org': { TXT: [[`v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]] },
  'e._domainkey.example.org': { TXT: [[`v=DKIM1; k=ed25519; p=${ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}`]] },
};
const resolve = async (name: string, rrtype: string): Promise<unknown> => {
  const v = ZONE[name.toLowerCase()]?.[rrtype];
  if (v === undefined || (Array.isArray(v) && v.length === 0)) throw Object.assign(new Error(`${rrtype} ${name}`), { code: ZONE[name.toLowerCase()] ? 'ENODATA' : 'ENOTFOUND' });
  return v;
};

/** This process's main thread's CPU so far, ms (Linux; 0 elsewhere): what the server's event loop would spend. */
const mainThreadCpuMs = (): number => threadCpuMs(process.pid)['event loop'] ?? 0;

/** Runs `one` MESSAGES times, CONCURRENCY at once; CPU (user + system, every thread) and wall time per message. */
async function measure(name: string, one: () => Promise<unknown>): Promise<void> {
  if (ONLY !== null && !name.includes(ONLY)) return;
  for (let i = 0; i < 50; i++) await one(); // warm-up
  const cpu0 = process.cpuUsage();
  const main0 = mainThreadCpuMs();
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < MESSAGES) await one();
    }),
  );
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const mainMs = mainThreadCpuMs() - main0;
  console.log(`${name.padEnd(44)} ${(cpuMs / MESSAGES).toFixed(3).padStart(7)} ms CPU/msg (main thread ${(mainMs / MESSAGES).toFixed(3)}) ${(wall / MESSAGES).toFixed(3).padStart(7)} ms wall/msg ${Math.round((MESSAGES * 1000) / wall).toString().padStart(6)} msg/s`);
}

async function sign(keys: DkimKeys, message: Buffer): Promise<string> {
  const run = new DkimSigner({ keys }).start();
  for (const c of chunks(message)) run.write(c);
  return (await run.finish()).fields;
}

const checks = new InboundChecks({ resolve, hostname: 'mx.example.net', dmarcPolicy: 'enforce' });
async function verify(message: Buffer): Promise<void> {
  const run = checks.start({ clientIp: '192.0.2.10', helo: 'mail.example.org', mailFrom: 'alice@example.org' });
  for (const c of chunks(message)) run.write(c);
  const out = await run.finish();
  if (out.verdict !== 'accept') throw new Error(`unexpected verdict: ${out.summary}`);
}

console.log(`${MESSAGES} messages of ${MESSAGE.length} octets, ${CONCURRENCY} at once, Node ${process.version}`);
await measure('sign, RSA-2048', () => sign(KEYS.rsa, MESSAGE));
await measure('sign, Ed25519', () => sign(KEYS.ed25519, MESSAGE));
await measure('sign, RSA-2048 + Ed25519 (the relay, both keys)', () => sign(KEYS.both, MESSAGE));
await measure('sign, From: domain without a key', () => sign(new DkimKeys([]), MESSAGE));
const signed = Buffer.concat([Buffer.from(await sign(KEYS.both, MESSAGE)), MESSAGE]);
const signedRsa = Buffer.concat([Buffer.from(await sign(KEYS.rsa, MESSAGE)), MESSAGE]);
const unsigned = MESSAGE;
await measure('inbound checks, unsigned (SPF x2, DMARC, ARC)', () => verify(unsigned));
await measure('inbound checks, 1 signature (rsa-sha256)', () => verify(signedRsa));
await measure('inbound checks, 2 signatures (SPF x2, DKIM x2, DMARC, ARC)', () => verify(signed));

// The same checks as the server runs them, in their own thread (threaded-checks.ts), the DNS answered by the bench's
// stub on loopback: the main thread's figure is what the event loop still spends per message.
const STUB_ZONE: Zone = Object.fromEntries(
  Object.entries(ZONE).map(([name, e]) => [name, { ...(e['TXT'] === undefined ? {} : { txt: (e['TXT'] as string[][]).map((r) => r.join('')) }), ...(e['A'] === undefined ? {} : { a: e['A'] as string[] }) }]),
);
const stub = await DnsStub.start(STUB_ZONE);
const threaded = new ThreadedChecks({ dns: { servers: [stub.address] }, hostname: 'mx.example.net', dmarcPolicy: 'enforce' });
async function verifyThreaded(message: Buffer): Promise<void> {
  const run = threaded.start({ clientIp: '192.0.2.10', helo: 'mail.example.org', mailFrom: 'alice@example.org' });
  for (const c of chunks(message)) run.write(c);
  const out = await run.finish();
  if (out.verdict !== 'accept') throw new Error(`unexpected verdict: ${out.summary}`);
}
await measure('inbound checks in their thread, 1 signature', () => verifyThreaded(signedRsa));
await threaded.close();
await stub.close();
