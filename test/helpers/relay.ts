// The world the outbound relay delivers into (a DNS stub, peers on 127.0.0.x and ::1 sharing one port) and submission to it.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import type { CommandOutput } from '../../src/cli/output.js';
import { queueList } from '../../src/cli/queue-commands.js';
import type { Config } from '../../src/config/config.js';
import type { QueueEntry } from '../../src/outbound/queue-item.js';
import { startDnsServer, type DnsServer, type ZoneEntry } from './dns-server.js';
import { freePort, startSmtpPeer, type ReceivedMessage, type SmtpPeer, type SmtpPeerOptions } from './smtp-peer.js';

export interface RelayWorld {
  /** The port every peer listens on and the relay dials (outbound.smtp_port), free when the world was made. */
  readonly port: number;
  /** The DNS stub's zone: tests add names to it at any time (the stub reads it at each question). */
  readonly zone: Record<string, ZoneEntry>;
  readonly dns: DnsServer;
  /**
   * TOML for startFacteur/prepareFacteur: an [outbound] table pointing the relay at this world (smtp_port,
   * dns_servers, plus `outboundLines`, e.g. 'retry_min = "200ms"'), and a short client connect timeout.
   */
  toml(outboundLines?: string): string;
  /** `domain` MX 10 → mx.<domain> with these addresses (AAAA for those with a colon, A for the others). */
  route(domain: string, ...addresses: string[]): void;
  /** An smtp-server peer on host:port; closed by close() if the test has not closed it. */
  peer(host: string, opts?: Omit<SmtpPeerOptions, 'host' | 'port'>): Promise<SmtpPeer>;
  /** Closes the peers still open and the DNS stub. */
  close(): Promise<void>;
}

export async function startRelayWorld(): Promise<RelayWorld> {
  const zone: Record<string, ZoneEntry> = {};
  const dns = await startDnsServer(zone);
  const port = await freePort();
  const peers = new Set<SmtpPeer>();
  return {
    port,
    zone,
    dns,
    toml: (outboundLines = '') =>
      ['[outbound]', `smtp_port = ${port}`, `dns_servers = ["${dns.address}"]`, outboundLines, '[timeouts]', 'connect = "5s"', ''].join('\n'),
    route(domain, ...addresses) {
      zone[domain] = { MX: [{ exchange: `mx.${domain}`, priority: 10 }] };
      zone[`mx.${domain}`] = { A: addresses.filter((a) => !a.includes(':')), AAAA: addresses.filter((a) => a.includes(':')) };
    },
    async peer(host, opts = {}) {
      const p = await startSmtpPeer({ ...opts, host, port });
      const close = p.close;
      const tracked: SmtpPeer = {
        ...p,
        close: async () => {
          if (!peers.delete(tracked)) return;
          await close();
        },
      };
      peers.add(tracked);
      return tracked;
    },
    async close() {
      for (const p of [...peers]) await p.close();
      await dns.close();
    },
  };
}

export interface Submission {
  readonly from: string;
  readonly to: readonly string[];
  /** The message, CRLF or LF line endings (nodemailer sends CRLF). */
  readonly raw: string;
  /** Use STARTTLS on the relay's port (default false: plain text, which is what local programs mostly do). */
  readonly starttls?: boolean;
}

export interface Submitted {
  /** The queue id from "250 2.0.0 Ok: queued as ID". */
  readonly id: string;
  readonly response: string;
  readonly accepted: readonly string[];
}

const QUEUED = /^250 2\.0\.0 Ok: queued as ([A-Za-z0-9]+)$/;

/** Submits one message to the relay on 127.0.0.1:port with nodemailer, as a local program would. */
export async function submit(port: number, mail: Submission): Promise<Submitted> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    name: 'client.example',
    ...(mail.starttls === true ? { requireTLS: true, tls: { rejectUnauthorized: false } } : { ignoreTLS: true }),
  });
  try {
    const info = await transport.sendMail({ envelope: { from: mail.from, to: [...mail.to] }, raw: mail.raw });
    const m = QUEUED.exec(info.response);
    if (m === null) throw new Error(`unexpected final reply from the relay: ${info.response}`);
    return { id: m[1] as string, response: info.response, accepted: info.accepted.map(String) };
  } finally {
    transport.close();
  }
}

/** A small message with a Subject and a marker header, CRLF line endings. */
export function messageText(marker: string, body = 'Hello.\r\n'): string {
  return `From: <sender@client.example>\r\nSubject: ${marker}\r\nX-Marker: ${marker}\r\n\r\n${body}`;
}

/** `queue list --json` as the CLI computes it (through the running server's control socket), parsed. */
export async function queueEntries(config: Config): Promise<QueueEntry[]> {
  let out = '';
  let err = '';
  const io: CommandOutput = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await queueList(config, { json: true }, io);
  if (code !== 0) throw new Error(`queue list failed (${code}): ${err}`);
  return JSON.parse(out) as QueueEntry[];
}

/** Checks a bounce: an RFC 3464 report (RFC 6522 multipart/report) from <> to `to`, listing exactly `failed`, from mx.test. */
export function checkBounce(m: ReceivedMessage | undefined, to: string, failed: readonly string[], status: RegExp, diagnostic: RegExp): void {
  assert.ok(m !== undefined, 'a bounce');
  assert.equal(m.from, '', 'sent from the null reverse-path <>');
  assert.deepEqual(m.to, [to]);
  const body = m.body.toString('utf8').replaceAll('\r\n', '\n');
  assert.match(body, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
  assert.match(body, /^Content-Type: message\/delivery-status$/m);
  assert.match(body, /^Reporting-MTA: dns; mx\.test$/m);
  assert.match(body, /^Arrival-Date: /m);
  const blocks = body.split('\n\n').filter((b) => b.startsWith('Final-Recipient:'));
  assert.deepEqual(
    blocks.map((b) => /^Final-Recipient: rfc822; (.+)$/m.exec(b)?.[1]),
    [...failed],
  );
  for (const b of blocks) {
    assert.match(b, /^Action: failed$/m);
    assert.match(/^Status: (.+)$/m.exec(b)?.[1] ?? '', status);
    assert.match(b, diagnostic);
  }
  // The original headers come back with it.
  assert.match(body, /^Content-Type: text\/rfc822-headers$/m);
  assert.match(body, /^X-Marker: /m);
}
