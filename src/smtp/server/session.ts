// The state of one SMTP dialogue: facts about the connection, and the transaction in progress (RFC 5321 §3.3).
import type { SessionInfo, Envelope, TransactionInfo } from '../../delivery.js';
import type { Address } from '../../mail/address.js';
import type { MailParams } from '../mail-params.js';
import type { AuthIdentity } from './auth-service.js';

/** The mail transaction between MAIL and the end of DATA (or RSET); null outside it. */
export interface Transaction {
  readonly reversePath: Address | null;
  readonly params: MailParams;
  readonly recipients: Address[];
  /** Handed to the delivery at each RCPT: one object per transaction, set by MAIL. */
  readonly info?: TransactionInfo;
}

export interface TlsInfo {
  readonly protocol: string;
  readonly cipher: string;
}

export interface Greeting {
  /** The domain or address literal the client gave. */
  readonly name: string;
  /** EHLO (true) or HELO (false). */
  readonly esmtp: boolean;
}

export interface Session {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Set by HELO/EHLO, forgotten after STARTTLS (RFC 3207 §4.2). */
  greeting: Greeting | null;
  tls: TlsInfo | null;
  transaction: Transaction | null;
  /** 4xx/5xx replies sent so far: past the limit the session is closed (abusive or broken client). */
  errors: number;
  /** Messages accepted in this session, for the connection log line. */
  messages: number;
  /**
   * Command lines since the session began or since its last accepted message: past a limit the client is only
   * holding a slot (every command counts, EHLO and MAIL included; a client that delivers mail is never cut off).
   */
  idleCommands: number;
  /** Set by a successful AUTH (RFC 4954), kept to the end of the session; absent or null before. */
  auth?: AuthIdentity | null;
}

/** Where the session stands: decides which commands are allowed (see command-table.ts). */
export type Phase = 'initial' | 'ready' | 'mail' | 'rcpt';

export function phaseOf(s: Session): Phase {
  if (s.greeting === null) return 'initial';
  if (s.transaction === null) return 'ready';
  return s.transaction.recipients.length === 0 ? 'mail' : 'rcpt';
}

/** The one place a transaction is dropped: RSET, HELO/EHLO, STARTTLS and the end of DATA all come here. */
export function resetTransaction(s: Session): void {
  s.transaction = null;
}

export function sessionInfo(s: Session): SessionInfo {
  return {
    id: s.id,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    localAddress: s.localAddress,
    localPort: s.localPort,
    heloName: s.greeting?.name ?? null,
    esmtp: s.greeting?.esmtp ?? false,
    tls: s.tls,
    auth: s.auth ?? null,
  };
}

export function envelopeOf(tx: Transaction): Envelope {
  return {
    reversePath: tx.reversePath,
    recipients: [...tx.recipients],
    eightBit: tx.params.eightBit,
    smtputf8: tx.params.smtputf8,
    declaredSize: tx.params.size,
  };
}
