// The rspamd spam filter as a message check: each message is streamed to rspamd's normal worker (POST /checkv2,
// chunked) while it arrives, and rspamd's action becomes the verdict (see rspamd-verdict.ts). rspamd unreachable,
// slow or answering nonsense: the message is accepted and the failure logged, or deferred (fail = "defer").
import { Agent, request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Envelope } from '../delivery.js';
import type { CheckRun, CheckVerdict, MessageCheck } from '../inbound/message-check.js';
import type { Logger } from '../observability/logger.js';
import { replies } from '../smtp/replies.js';
import { rspamdHeaders, toCrlf, type CheckedSession } from './rspamd-request.js';
import { verdictOf } from './rspamd-verdict.js';

export interface RspamdCheckOptions {
  /** Base URL of the normal worker, "http://127.0.0.1:11333"; /checkv2 is appended. */
  readonly url: string;
  /** Longest wait for rspamd, in ms: to take the next block of the message, then to answer once it has it all. */
  readonly timeoutMs: number;
  readonly fail: 'accept' | 'defer';
  readonly spamToJunk: boolean;
  /** Our name, for rspamd's Authentication-Results routines (MTA-Name). */
  readonly hostname: string;
  readonly logger: Logger;
}

/** rspamd's answer is a few KiB of JSON; one larger than this is not read (a wrong URL, a misbehaving proxy). */
const MAX_ANSWER_BYTES = 1024 * 1024;

export class RspamdCheck implements MessageCheck {
  readonly name = 'rspamd';
  /** Connections kept open between messages: a scan costs a few ms, a new connection would be a good part of it. */
  private readonly agent = new Agent({ keepAlive: true });
  private readonly endpoint: URL;

  constructor(private readonly opts: RspamdCheckOptions) {
    this.endpoint = new URL(`${opts.url.replace(/\/$/, '')}/checkv2`);
  }

  start(envelope: Envelope, session: CheckedSession): CheckRun {
    return new RspamdRun(this.opts, session.id, request(this.endpoint, { method: 'POST', agent: this.agent, headers: rspamdHeaders(envelope, session, this.opts.hostname) }));
  }

  /** Closes the idle connections (at shutdown). */
  close(): void {
    this.agent.destroy();
  }
}

class RspamdRun implements CheckRun {
  /** Why rspamd cannot give a verdict for this message, once that is known. */
  private failure: string | null = null;
  private readonly answer: Promise<Buffer>;

  constructor(
    private readonly opts: RspamdCheckOptions,
    private readonly session: string,
    private readonly req: ClientRequest,
  ) {
    this.answer = new Promise<Buffer>((resolve, reject) => {
      req.once('response', (res) => readAnswer(res).then(resolve, reject));
      req.once('error', (err) => {
        this.failure ??= err.message;
        reject(err);
      });
    });
    this.answer.catch(() => undefined); // a run aborted before finish() never reads it
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failure !== null || chunk.length === 0) return;
    if (this.req.write(toCrlf(chunk))) return;
    // rspamd reads more slowly than the client sends: wait for it (the SMTP client waits too), within the timeout.
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.req.off('drain', done);
        this.req.off('close', done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.fail(`rspamd took nothing for ${this.opts.timeoutMs} ms`);
        done();
      }, this.opts.timeoutMs);
      this.req.once('drain', done);
      this.req.once('close', done);
    });
  }

  async finish(): Promise<CheckVerdict> {
    if (this.failure === null) this.req.end();
    const timer = setTimeout(() => this.fail(`no answer within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    let body: Buffer;
    try {
      body = await this.answer;
    } catch (err) {
      return this.failed(this.failure ?? (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
    let result;
    try {
      result = verdictOf(JSON.parse(body.toString('utf8')), { spamToJunk: this.opts.spamToJunk });
    } catch (err) {
      return this.failed(`unreadable answer: ${(err as Error).message}`);
    }
    this.opts.logger.info(
      { event: 'rspamd', session: this.session, action: result.action, score: result.score, required: result.requiredScore, verdict: result.verdict.action },
      `rspamd: ${result.action}`,
    );
    return result.verdict;
  }

  abort(): void {
    this.fail('aborted');
  }

  /** Gives up on rspamd for this message: the request is dropped, later writes are ignored. */
  private fail(reason: string): void {
    this.failure ??= reason;
    this.req.destroy(new Error(reason));
  }

  /** The verdict when rspamd could not give one: the fail policy. */
  private failed(reason: string): CheckVerdict {
    const defer = this.opts.fail === 'defer';
    this.opts.logger.warn({ event: 'rspamd-failed', session: this.session, reason, url: this.opts.url, then: defer ? 'defer' : 'accept' }, `rspamd failed: ${reason}; message ${defer ? 'deferred' : 'accepted unchecked'}`);
    return defer ? { action: 'defer', reply: replies.spamFilterUnavailable(), headers: [] } : { action: 'accept', headers: [] };
  }
}

/** The body of a 200 answer, at most MAX_ANSWER_BYTES; any other status is a failure naming rspamd's error. */
function readAnswer(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) {
        res.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.once('error', reject);
    res.once('close', () => {
      if (!res.complete) reject(new Error('answer cut short'));
    });
    res.once('end', () => {
      const body = Buffer.concat(chunks);
      if (res.statusCode === 200) resolve(body);
      else reject(new Error(`HTTP ${res.statusCode ?? '?'}: ${body.toString('utf8').replace(/\s+/g, ' ').slice(0, 200)}`));
    });
  });
}
