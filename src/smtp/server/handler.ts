// The shape of a command handler: it gets the dialogue's state and the command's argument, and returns a reply.
import type { ByteReader } from '../wire/byte-reader.js';
import type { Reply } from '../../mail/reply.js';
import type { ServerContext } from './server-context.js';
import type { Session } from './session.js';

/** What the connection does after writing the reply: nothing more, close, or start the TLS handshake. */
export type Outcome = Reply | { readonly reply: Reply; readonly then: 'close' | 'start-tls' };

export interface CommandContext {
  readonly session: Session;
  readonly server: ServerContext;
  /** The connection's reader: only DATA reads from it, for the message text. */
  readonly reader: ByteReader;
  /** Writes an intermediate reply at once (354 before the message text). */
  send(reply: Reply): Promise<void>;
}

export type Handler = (ctx: CommandContext, args: string) => Promise<Outcome> | Outcome;

export const replyOf = (o: Outcome): Reply => ('then' in o ? o.reply : o);
