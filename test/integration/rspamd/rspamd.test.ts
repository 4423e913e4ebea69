// The rspamd check against Debian's rspamd, started by the test (skipped, with the reason, where it is not
// installed): each action of rspamd becomes its verdict, and through a real SMTP socket GTUBE is refused after DATA
// while a clean message is stored with rspamd's headers.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Delivery, Envelope, SessionInfo } from '../../../src/delivery.js';
import type { CheckVerdict } from '../../../src/inbound/message-check.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { RspamdCheck } from '../../../src/rspamd/rspamd-check.js';
import { replies } from '../../../src/smtp/replies.js';
import { SmtpError } from '../../../src/smtp/smtp-error.js';
import { SmtpServer } from '../../../src/smtp/server/listener.js';
import { Metrics } from '../../../src/observability/metrics.js';
import type { ServerContext } from '../../../src/smtp/server/server-context.js';
import { RSPAMD_MARKERS, startRspamd } from '../../helpers/rspamd.js';
import { SmtpDialog } from '../../helpers/smtp-dialog.js';

const rspamd = await startRspamd();
const skip = typeof rspamd === 'string' ? rspamd : false;
after(() => (typeof rspamd === 'string' ? undefined : rspamd.stop()));

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';
const envelope: Envelope = {
  reversePath: { local: 'sender', domain: 'example.net' },
  recipients: [{ local: 'alice', domain: 'example.org' }],
  eightBit: false,
  smtputf8: false,
  declaredSize: null,
};
const session: SessionInfo = {
  id: 'T1',
  remoteAddress: '127.0.0.1',
  remotePort: 40000,
  localAddress: '127.0.0.1',
  localPort: 25,
  heloName: 'client.example.net',
  esmtp: true,
  tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' },
};

/** A message as the check gets it: LF line endings. */
function message(subject: string, body = 'Hello Alice, how are you?'): string {
  return `From: sender@example.net\nTo: alice@example.org\nSubject: ${subject}\nMessage-ID: <t1@example.net>\nDate: Thu, 03 Dec 2026 08:00:00 +0000\n\n${body}\n`;
}

function newCheck(): RspamdCheck {
  if (typeof rspamd === 'string') throw new Error(rspamd);
  return new RspamdCheck({ url: rspamd.url, timeoutMs: 10_000, fail: 'accept', spamToJunk: true, hostname: 'mx.test', logger: silentLogger() });
}

/** Runs the check over `text`, written in chunks of `chunkSize` bytes (lines cut anywhere). */
async function verdict(check: RspamdCheck, text: string, chunkSize = 7): Promise<CheckVerdict> {
  const run = check.start(envelope, session);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) await run.write(bytes.subarray(i, i + chunkSize));
  return run.finish();
}

const header = (v: CheckVerdict, name: string): string | undefined => v.headers.find((h) => h.toLowerCase().startsWith(`${name.toLowerCase()}:`));

describe('rspamd check against a real rspamd', { skip }, () => {
  const check = newCheck();
  after(() => check.close());

  test('GTUBE: reject, 550 5.7.1 with rspamd\'s text', async () => {
    const v = await verdict(check, message('gtube', GTUBE));
    assert.equal(v.action, 'reject');
    assert.equal(`${v.reply?.code} ${v.reply?.enhanced}`, '550 5.7.1');
    assert.equal(v.reply?.lines[0], 'Gtube pattern');
  });

  test('a clean message: accept, with the headers rspamd asks for, which it saw with our envelope', async () => {
    const v = await verdict(check, message('hello'));
    assert.equal(v.action, 'accept');
    const result = header(v, 'X-Spamd-Result');
    assert.ok(result?.startsWith('X-Spamd-Result: default: False ['), v.headers.join('\n'));
    // The envelope reached rspamd: the header From is the envelope's, the To the envelope's recipient.
    assert.match(result!, /FROM_EQ_ENVFROM/);
    assert.match(result!, /TO_MATCH_ENVRCPT_ALL/);
    // Folded our way, and forged copies of rspamd's headers removed.
    assert.match(result!, /\n\t/);
    assert.doesNotMatch(result!, /\r/);
    assert.ok(v.removeHeaders?.includes('X-Spamd-Result'));
    assert.ok(header(v, 'X-Spam-Status')?.startsWith('X-Spam-Status: No'));
  });

  test('add header: junk, marked X-Spam: Yes', async () => {
    const v = await verdict(check, message(`offer ${RSPAMD_MARKERS.addHeader}`));
    assert.equal(v.action, 'junk');
    assert.equal(header(v, 'X-Spam'), 'X-Spam: Yes');
    assert.ok(v.removeHeaders?.includes('X-Spam'));
  });

  test('rewrite subject: junk, the Subject replaced by rspamd\'s', async () => {
    const v = await verdict(check, message(`offer ${RSPAMD_MARKERS.rewriteSubject}`));
    assert.equal(v.action, 'junk');
    assert.equal(header(v, 'Subject'), `Subject: ***SPAM*** offer ${RSPAMD_MARKERS.rewriteSubject}`);
    assert.ok(v.removeHeaders?.includes('Subject'));
  });

  test('soft reject: defer, 451 4.7.1', async () => {
    const v = await verdict(check, message(`x ${RSPAMD_MARKERS.softReject}`));
    assert.equal(v.action, 'defer');
    assert.equal(`${v.reply?.code} ${v.reply?.enhanced} ${v.reply?.lines[0]}`, '451 4.7.1 Test deferral');
  });

  test('a 4 MiB message streams through in 64 KiB chunks', async () => {
    const line = `${'x'.repeat(76)}\n`;
    const v = await verdict(check, message('big', line.repeat((4 * 1024 * 1024) / line.length)), 64 * 1024);
    assert.ok(v.action === 'accept' || v.action === 'junk', v.action);
  });
});

describe('rspamd at the end of DATA, over a real SMTP socket', { skip }, () => {
  // A delivery shaped like the inbound one: the message goes to the check as it arrives, and the verdict decides
  // the reply to the final dot (the lead wires the checks into InboundDelivery the same way).
  const check = newCheck();
  const stored: { verdict: CheckVerdict; text: string }[] = [];
  const delivery: Delivery = {
    acceptRecipient: async () => undefined,
    open: async (env, info) => {
      const run = check.start(env, info);
      const chunks: Buffer[] = [];
      return {
        write: async (chunk) => {
          chunks.push(chunk);
          await run.write(chunk);
        },
        commit: async () => {
          const v = await run.finish();
          if (v.reply !== undefined) throw new SmtpError(v.reply);
          stored.push({ verdict: v, text: Buffer.concat(chunks).toString('utf8') });
          return replies.queued(`m${stored.length}`);
        },
        abort: async () => run.abort(),
      };
    },
  };
  const ctx: ServerContext = {
    name: 'inbound',
    hostname: 'mx.test',
    delivery,
    limits: { maxMessageSize: 10 * 1024 * 1024, maxRecipients: 100, maxConnections: 10, maxIdleCommands: 100, maxSessionTime: 3_600_000, maxLineLength: 2048, maxErrors: 20 },
    timeouts: { command: 10_000, data: 10_000, tlsHandshake: 10_000, greetPause: 0, shutdownGrace: 1000 },
    tls: null,
    logger: silentLogger(),
    now: () => new Date(),
    clientLimits: null,
    metrics: new Metrics(),
  };
  const server = new SmtpServer(ctx);
  after(async () => {
    await server.close();
    check.close();
  });

  async function send(text: string): Promise<{ code: number; enhanced: string | null; line: string }> {
    if (server.addresses().length === 0) await server.listen([{ host: '127.0.0.1', port: 0, text: '127.0.0.1:0' }], false);
    const d = await SmtpDialog.connect(server.addresses()[0]!.port);
    try {
      await d.expect(220);
      await d.ask('EHLO client.example.net');
      await d.ask('MAIL FROM:<sender@example.net>');
      await d.ask('RCPT TO:<alice@example.org>');
      await d.ask('DATA');
      await d.send(`${text.replace(/\n/g, '\r\n')}.\r\n`);
      const r = await d.reply();
      return { code: r.code, enhanced: r.enhanced, line: r.lines[0]! };
    } finally {
      d.close();
    }
  }

  test('GTUBE is refused with 550 5.7.1 after the final dot, nothing stored', async () => {
    const r = await send(message('gtube', GTUBE));
    assert.deepEqual([r.code, r.enhanced], [550, '5.7.1']);
    assert.equal(stored.length, 0);
  });

  test('a clean message is accepted, with rspamd\'s headers for the store', async () => {
    const r = await send(message('hello'));
    assert.deepEqual([r.code, r.enhanced], [250, '2.0.0']);
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.verdict.action, 'accept');
    assert.ok(header(stored[0]!.verdict, 'X-Spamd-Result'), stored[0]!.verdict.headers.join('\n'));
  });
});
