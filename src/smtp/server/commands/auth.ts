// AUTH (RFC 4954): a SASL exchange of 334 challenges and base64 responses, under TLS only, once per session.
import { reply, type Reply } from '../../../mail/reply.js';
import { replies } from '../../replies.js';
import { ConnectionClosedError } from '../../wire/byte-reader.js';
import type { AuthIdentity, SaslExchange } from '../auth-service.js';
import type { CommandContext, Handler, Outcome } from '../handler.js';
import { sessionInfo } from '../session.js';

/** RFC 4954 §4: a response line may be up to 12288 octets (CRLF excluded). */
const MAX_RESPONSE_LINE = 12288 + 2;

/** "AUTH mechanism [initial-response]": mechanism names are RFC 4422 §3.1's 1-20 characters. */
const AUTH_ARGS = /^([A-Za-z0-9_-]{1,20})(?: +(\S+))?$/;
/** RFC 4648 base64; the padding may be left out (a few clients do). "=" alone is the empty initial response. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** The text of a failed exchange, as the reply says it. */
type Failed = { readonly reply: Reply; readonly close?: boolean };

export const auth: Handler = async (ctx, args) => {
  const { session, server } = ctx;
  if (server.auth === undefined) return replies.notImplemented('AUTH');
  // RFC 4954 §4: "After a successful AUTH command completes, a server MUST reject any further AUTH commands with a 503".
  if (session.auth != null) return replies.alreadyAuthenticated();
  // PLAIN and LOGIN send the password itself: never over a connection that is not encrypted (RFC 4954 §4, 538 §6).
  if (session.tls === null) return replies.encryptionRequired();
  const m = AUTH_ARGS.exec(args.trim());
  if (m === null) return replies.syntax('expected AUTH mechanism [initial-response]');
  const mechanism = (m[1] as string).toUpperCase();
  const initial = m[2];
  let first: Buffer | null = null;
  if (initial !== undefined) {
    // "=" is an initial response of zero length (RFC 4954 §4), distinct from none at all.
    const decoded = initial === '=' ? Buffer.alloc(0) : decodeBase64(initial);
    if (decoded === null) return replies.authBadBase64();
    first = decoded;
  }

  const exchange = server.auth.start(mechanism, sessionInfo(session));
  if ('kind' in exchange) return outcome(exchange);
  const result = await run(ctx, exchange, first);
  if ('identity' in result) {
    session.auth = result.identity;
    server.logger.info({ event: 'auth', session: session.id, client: session.remoteAddress, login: result.identity.login, mechanism }, 'authenticated');
    return replies.authSucceeded();
  }
  return outcome(result);
};

/** Runs the exchange to its end: challenges out as 334, responses in, until it succeeds or fails. */
async function run(ctx: CommandContext, exchange: SaslExchange, first: Buffer | null): Promise<Failed | { identity: AuthIdentity }> {
  let response = first;
  for (;;) {
    const step = await exchange.next(response);
    if (step.kind === 'success') return { identity: step.identity };
    if (step.kind === 'failure') return step;
    await ctx.send(reply(334, null, step.data.toString('base64')));
    const line = await readResponse(ctx);
    if ('reply' in line) return line;
    response = line.data;
  }
}

/** The client's answer to a 334: its decoded bytes, or why the exchange ends here. */
async function readResponse(ctx: CommandContext): Promise<{ data: Buffer } | Failed> {
  // The same wait as for a command (RFC 5321 §4.5.3.2.7): a client that stops answering holds no session forever.
  const result = await ctx.reader.readLine(MAX_RESPONSE_LINE, AbortSignal.timeout(ctx.server.timeouts.command));
  if (result.kind === 'eof') throw new ConnectionClosedError('connection closed during AUTH');
  if (result.kind === 'too-long') return { reply: replies.authLineTooLong(MAX_RESPONSE_LINE - 2) };
  if (result.kind === 'bare-lf') return { reply: replies.bareLineEnding() };
  const text = result.line.toString('latin1').trim();
  // RFC 4954 §4: "*" cancels, and the server MUST answer 501.
  if (text === '*') return { reply: replies.authCancelled() };
  const data = decodeBase64(text);
  return data === null ? { reply: replies.authBadBase64() } : { data };
}

function decodeBase64(text: string): Buffer | null {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : null;
}

const outcome = (f: Failed): Outcome => (f.close === true ? { reply: f.reply, then: 'close' } : f.reply);
