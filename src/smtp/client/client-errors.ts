// What can go wrong talking to a remote server, each error keeping what happened so transfer can classify it.
import { type Reply, replyText } from '../../mail/reply.js';

/** The step of the dialogue an error happened in (RFC 5321 §4.5.3.2 names the waits). */
export type ClientStage =
  | 'connect'
  | 'greeting'
  | 'ehlo'
  | 'lhlo'
  | 'helo'
  | 'starttls'
  | 'tls-handshake'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'body'
  | 'final-dot'
  | 'quit';

/** The server answered, but not what the step needs (non-220 greeting, EHLO and HELO refused, 421 at any time…). */
export class RemoteReplyError extends Error {
  constructor(
    readonly stage: ClientStage,
    readonly reply: Reply,
  ) {
    super(`${stage}: ${replyText(reply)}`);
    this.name = 'RemoteReplyError';
  }
}

/** The TCP connection could not be made (refused, unreachable) or was cut, or the server closed it. */
export class ConnectionLostError extends Error {
  constructor(
    readonly stage: ClientStage,
    /** What happened in a few words: "connection refused", "connection reset", "connection closed"… */
    readonly reason: string,
    /** "192.0.2.1:25" / "[2001:db8::1]:25". */
    readonly remote: string,
    options?: ErrorOptions,
  ) {
    super(`${reason} (${remote}, at ${stage})`, options);
    this.name = 'ConnectionLostError';
  }

  /** The system error code of the cause, e.g. "ECONNREFUSED", or null when the server just closed. */
  get code(): string | null {
    const code = (this.cause as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? code : null;
  }
}

/** A wait ran out of time. The name matches the DOMException of AbortSignal.timeout(), as isTimeout() expects. */
export class ClientTimeoutError extends Error {
  constructor(
    readonly stage: ClientStage,
    readonly ms: number,
  ) {
    super(`timed out after ${ms} ms waiting at ${stage}`);
    this.name = 'TimeoutError';
  }
}

/** The STARTTLS handshake failed; the plain connection is gone with it. */
export class TlsHandshakeError extends Error {
  constructor(
    message: string,
    /** What went wrong in a few words, without the address ("tlsv1 alert protocol version"), for the TLS policy's verdict. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TlsHandshakeError';
  }
}

/** The server broke the protocol (a malformed or oversized reply); the session cannot go on. */
export class RemoteProtocolError extends Error {
  constructor(
    readonly stage: ClientStage,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'RemoteProtocolError';
  }
}

/** Every error the client throws for a remote cause (anything else is a local problem, such as the body file). */
export type ClientError = RemoteReplyError | ConnectionLostError | ClientTimeoutError | TlsHandshakeError | RemoteProtocolError;

export const isClientError = (err: unknown): err is ClientError =>
  err instanceof RemoteReplyError ||
  err instanceof ConnectionLostError ||
  err instanceof ClientTimeoutError ||
  err instanceof TlsHandshakeError ||
  err instanceof RemoteProtocolError;
