// Mail authentication's cost on the inbound server: the same DKIM-signed messages with the checks on (inbound.verify:
// SPF for MAIL FROM and HELO, DKIM, DMARC, ARC) or off, every name answered by a DNS stub on loopback, SPF passing for
// the client's 127.0.0.1. Each measure gets a fresh server, warmed as the shared inbound one is. (The relay's signing
// is a flag of the outbound scenarios.)
import { generateKeyPairSync } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DkimKeys } from '../../src/mailauth/dkim-keys.js';
import { DkimSigner } from '../../src/mailauth/dkim-signer.js';
import type { BenchContext } from '../context.js';
import { DnsStub, type Zone } from '../dns-stub.js';
import type { FacteurProcess } from '../facteur-process.js';
import { cellLoad, HELO_NAME } from '../load-generator.js';
import { buildMessage, messageOctets, withFieldsOnTop, type MessageBytes } from '../message.js';
import { measure, SERVER_WARMUP, TO, type InboundCell } from './inbound.js';
import { failedResult, type Scenario } from './scenario.js';

/** The sending domain: its SPF names 127.0.0.1, its DMARC policy is reject, it signs with one RSA-2048 key. */
const SENDER_DOMAIN = 'sender.example';
const FROM = `a@${SENDER_DOMAIN}`;
const SELECTOR = 'bench';

/** A message of `size` octets from FROM, signed by SENDER_DOMAIN (rsa-sha256, relaxed/relaxed), and the zone that vouches for it. */
async function signedMail(size: number): Promise<{ message: MessageBytes; zone: Zone }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keys = new DkimKeys([{ domain: SENDER_DOMAIN, selector: SELECTOR, algorithm: 'rsa-sha256', privateKey, file: '' }]);
  const plain = buildMessage(size, FROM, TO);
  const signed = await new DkimSigner({ keys }).sign(messageOctets(plain), SENDER_DOMAIN);
  const p = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const zone: Zone = {
    [SENDER_DOMAIN]: { txt: ['v=spf1 ip4:127.0.0.1 -all'] },
    [`_dmarc.${SENDER_DOMAIN}`]: { txt: ['v=DMARC1; p=reject'] },
    [`${SELECTOR}._domainkey.${SENDER_DOMAIN}`]: { txt: [`v=DKIM1; k=rsa; p=${p}`] },
    // The HELO identity is checked too; a real sending host publishes an address and often an SPF record.
    [HELO_NAME]: { a: ['127.0.0.1'], txt: ['v=spf1 ip4:127.0.0.1 -all'] },
  };
  return { message: withFieldsOnTop(plain, signed.fields.replace(/\n/g, '\r\n')), zone };
}

export function mailauthInboundScenario(id: string, cell: InboundCell, checks: boolean): Scenario {
  const scenario: Scenario = {
    id,
    kind: 'inbound',
    postfix: false,
    async run(ctx, target) {
      if (target !== 'facteur') return failedResult(scenario, target, 'measures facteur only');
      const { message, zone } = await signedMail(cell.size);
      const dns = await DnsStub.start(zone);
      try {
        const f = await ctx.startFacteur(id, { inbound: true, outbound: false, verify: checks, dnsServers: [dns.address] });
        return await ctx.measureOn(f, async () => {
          // The warm-up's messages stay: the measure counts from what is there, and removing them would tax the
          // measure's own file creations (see BenchContext.discard).
          await warm(ctx, f, message);
          const server = { port: f.setup.inboundPort, maildirNew: f.maildirNew, pid: f.pid, singleProcess: true, close: async () => null };
          const note = `DKIM-signed (rsa-sha256) by ${SENDER_DOMAIN}, whose SPF passes for 127.0.0.1 and DMARC is p=reject; inbound.verify = ${checks}, lookups answered by a DNS stub on loopback`;
          const result = await measure(ctx, id, cell, target, server, { message, from: FROM, note, server: `on a fresh server (${SERVER_WARMUP} warm-up messages at its start)` });
          const problem = await checkStored(f.maildirNew, checks);
          const figures = { ...result.figures, dnsQueries: dns.queries };
          return problem === null ? { ...result, figures } : { ...result, figures, ok: false, problems: [...result.problems, problem] };
        });
      } catch (err) {
        return failedResult(scenario, target, (err as Error).message);
      } finally {
        await dns.close();
      }
    },
  };
  return scenario;
}

/** As the shared inbound server's warm-up: half a connection per message, half over long connections. */
async function warm(ctx: BenchContext, f: FacteurProcess, message: MessageBytes): Promise<void> {
  const n = ctx.options.quick || ctx.options.warmup === 0 ? 0 : SERVER_WARMUP;
  if (n === 0) return;
  ctx.progress(`  facteur: new server, warming up with ${n} messages`);
  for (const perConnection of ['one', 'many'] as const) {
    const load = cellLoad({ port: f.setup.inboundPort, perConnection, pipelining: ctx.options.pipelining, message, from: FROM, to: TO });
    const r = await load(n / 2, 8);
    if (r.failed > 0) throw new Error(`warm-up: ${r.failed} messages refused: ${JSON.stringify(r.errors)}`);
  }
}

/** One stored message says the checks ran and passed (or, checks off, that none ran); null when it does, else why not. */
async function checkStored(maildirNew: string, checks: boolean): Promise<string | null> {
  const names = await readdir(maildirNew);
  if (names.length === 0) return 'no message stored to check';
  const text = await readFile(join(maildirNew, names[0] as string), 'latin1');
  const header = text.slice(0, text.indexOf('\n\n'));
  const ar = /^Authentication-Results: [^]*?(?=\n\S)/m.exec(header)?.[0] ?? null;
  if (!checks) return ar === null ? null : 'checks off, yet an Authentication-Results field was stored';
  if (ar === null) return 'checks on, yet no Authentication-Results field was stored';
  const failed = ['spf', 'dkim', 'dmarc'].filter((m) => !new RegExp(`\\b${m}=pass\\b`).test(ar));
  return failed.length === 0 ? null : `checks did not all pass (${failed.join(', ')}): ${ar.replace(/\s+/g, ' ')}`;
}
