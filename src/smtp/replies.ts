// The catalogue of replies facteur sends: basic and enhanced codes are always chosen together (RFC 3463).
import { reply, type Reply } from '../mail/reply.js';

export const replies = {
  // Connection
  greeting: (host: string): Reply => reply(220, null, `${host} ESMTP facteur`),
  closing: (host: string): Reply => reply(221, '2.0.0', `${host} closing connection`),
  tooManyConnections: (): Reply => reply(421, '4.7.0', 'Too many connections, try again later'),
  shuttingDown: (host: string): Reply => reply(421, '4.3.2', `${host} shutting down, try again later`),
  // RFC 3463 §3.5, X.3.2 "system not accepting network messages": no worker process is there to serve (src/workers).
  noWorker: (host: string): Reply => reply(421, '4.3.2', `${host} service not available, try again later`),
  timeout: (host: string): Reply => reply(421, '4.4.2', `${host} timeout, closing connection`),
  tooManyErrors: (): Reply => reply(421, '4.7.0', 'Too many errors, closing connection'),
  tooManyIdleCommands: (): Reply => reply(421, '4.7.0', 'Too many commands without a message, closing connection'),
  sessionTooLong: (): Reply => reply(421, '4.7.0', 'Session lasted too long, closing connection'),
  notLoopback: (): Reply => reply(421, '4.7.0', 'This relay only serves the local host'),
  clientLimit: (which: 'connections' | 'connection rate' | 'message rate' | 'recipient rate' = 'connections'): Reply =>
    reply(421, '4.7.0', {
      connections: 'Too many connections from your address, try again later',
      'connection rate': 'Too many new connections from your address in the last minute, try again later',
      'message rate': 'Too many messages from your address in the last minute, try again later',
      'recipient rate': 'Too many recipients from your address in the last minute, try again later',
    }[which]),
  httpRefused: (): Reply => reply(421, '4.7.0', 'This is an SMTP server, not an HTTP server'),
  /**
   * The client's address is on a DNS blocklist (RFC 5782 §2.1's wording): said instead of the greeting, and to
   * every command but QUIT (RFC 5321 §3.1).
   */
  blocklisted: (ip: string, zone: string): Reply => reply(554, '5.7.1', `Service unavailable; client [${ip}] blocked using ${zone}`),
  /** RFC 5321 §4.1.4, RFC 2920 §3.1: the client did not wait for a reply it had to wait for. */
  synchronisation: (reason: string): Reply => reply(554, '5.5.0', `SMTP protocol synchronization error: ${reason}`),

  // Generic
  help: (): Reply =>
    reply(214, '2.0.0', [
      'Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP STARTTLS',
      'See RFC 5321',
    ]),

  // Syntax and sequence
  unknownCommand: (): Reply => reply(500, '5.5.2', 'Command not recognized'),
  lineTooLong: (max: number): Reply => reply(500, '5.5.2', `Line too long (limit ${max} octets)`),
  bareLineEnding: (): Reply => reply(500, '5.5.2', 'Lines must end with CRLF'),
  nulInCommand: (): Reply => reply(500, '5.5.2', 'NUL byte in command'),
  invalidUtf8: (): Reply => reply(500, '5.5.2', 'Command is not valid UTF-8'),
  syntax: (hint: string): Reply => reply(501, '5.5.4', `Syntax error: ${hint}`),
  badClientName: (verb: string): Reply => reply(501, '5.5.2', `Syntax error: ${verb} argument is not a domain or address literal`),
  badSenderSyntax: (hint: string): Reply => reply(501, '5.1.7', `Bad sender address syntax: ${hint}`),
  badRecipientSyntax: (hint: string): Reply => reply(501, '5.1.3', `Bad recipient address syntax: ${hint}`),
  notImplemented: (what: string): Reply => reply(502, '5.5.1', `${what} not implemented`),
  badSequence: (hint: string): Reply => reply(503, '5.5.1', `Bad sequence of commands: ${hint}`),
  unknownParameter: (name: string): Reply => reply(555, '5.5.4', `Unsupported parameter ${name}`),
  badParameter: (hint: string): Reply => reply(501, '5.5.4', `Bad parameter: ${hint}`),
  utf8NotEnabled: (): Reply => reply(553, '5.6.7', 'Non-ASCII address needs SMTPUTF8'),

  // Session
  reset: (): Reply => reply(250, '2.0.0', 'Reset'),
  noop: (): Reply => reply(250, '2.0.0', 'OK'),
  readyForTls: (): Reply => reply(220, '2.0.0', 'Ready to start TLS'),
  tlsNotAvailable: (): Reply => reply(454, '4.7.0', 'TLS not available'),
  alreadyTls: (): Reply => reply(503, '5.5.1', 'Already in TLS'),

  // Authentication (RFC 4954 §6, with the enhanced codes it gives)
  authSucceeded: (): Reply => reply(235, '2.7.0', 'Authentication successful'),
  authRequired: (): Reply => reply(530, '5.7.0', 'Authentication required'),
  encryptionRequired: (): Reply => reply(538, '5.7.11', 'Encryption required for authentication: use STARTTLS first'),
  authFailed: (): Reply => reply(535, '5.7.8', 'Authentication credentials invalid'),
  authCancelled: (): Reply => reply(501, '5.7.0', 'Authentication cancelled'),
  authBadBase64: (): Reply => reply(501, '5.5.2', 'Cannot decode the base64 response'),
  authLineTooLong: (max: number): Reply => reply(500, '5.5.6', `Authentication exchange line is too long (limit ${max} octets)`),
  authUnknownMechanism: (name: string): Reply => reply(504, '5.5.4', `Unrecognized authentication mechanism ${name}`),
  alreadyAuthenticated: (): Reply => reply(503, '5.5.1', 'Already authenticated'),
  authTemporaryFailure: (): Reply => reply(454, '4.7.0', 'Temporary authentication failure, try again later'),
  authBanned: (): Reply => reply(421, '4.7.0', 'Too many failed logins from your address, try again later'),
  senderNotYours: (address: string): Reply => reply(553, '5.7.1', `Sender address <${address}> is not one of yours`),
  fromHeaderNotYours: (address: string): Reply => reply(553, '5.7.1', `From: header address <${address}> is not one of yours`),
  tooManyMessagesPerHour: (max: number): Reply => reply(451, '4.7.1', `Too many messages: at most ${max} an hour, try again later`),

  // Transaction
  senderOk: (): Reply => reply(250, '2.1.0', 'Sender ok'),
  recipientOk: (): Reply => reply(250, '2.1.5', 'Recipient ok'),
  startData: (): Reply => reply(354, null, 'End data with <CR><LF>.<CR><LF>'),
  queued: (id: string): Reply => reply(250, '2.0.0', `Ok: queued as ${id}`),
  delivered: (id: string): Reply => reply(250, '2.0.0', `Ok: delivered as ${id}`),
  unknownMailbox: (): Reply => reply(550, '5.1.1', 'No such user here'),
  relayDenied: (): Reply => reply(550, '5.7.1', 'Relaying denied'),
  policyRefused: (): Reply => reply(550, '5.7.1', 'Message refused by local policy'),
  tooManyRecipients: (): Reply => reply(452, '4.5.3', 'Too many recipients'),
  messageTooBig: (max: number): Reply => reply(552, '5.3.4', `Message exceeds the size limit of ${max} bytes`),
  bareLineEndingInData: (): Reply =>
    reply(550, '5.6.0', 'Message refused: bare CR or LF in data (lines must end with CRLF)'),
  nulInData: (): Reply => reply(554, '5.6.0', 'Message refused: NUL byte in data (RFC 5322 forbids it)'),
  tooManyHops: (): Reply => reply(554, '5.4.6', 'Too many Received headers: mail loop?'),
  storageFailure: (): Reply => reply(451, '4.3.0', 'Temporary storage failure, try again later'),
  localError: (): Reply => reply(451, '4.3.0', 'Local error in processing, try again later'),
  noValidRecipients: (): Reply => reply(554, '5.5.1', 'No valid recipients'),
  /** RFC 3463 §3.3 X.2.2 "mailbox full"; 552 as RFC 1870 §6.1 answers a message over a recipient's storage. */
  mailboxFull: (): Reply => reply(552, '5.2.2', 'Mailbox full: quota exceeded'),
  /** The mail store (the LMTP server) cannot be reached or did not answer in time: nothing was stored. */
  storeUnavailable: (): Reply => reply(451, '4.3.0', 'Mail store unavailable, try again later'),

  // Addresses: aliases and SRS (README, Addresses). 5.4.6 is RFC 3463's "routing loop detected".
  /** `chain`: the addresses of the loop, "a@x -> b@x -> a@x". */
  aliasLoop: (chain: string): Reply => reply(550, '5.4.6', `Alias loop: ${chain}`),
  aliasTooDeep: (max: number): Reply => reply(550, '5.4.6', `Alias expansion deeper than ${max} levels: loop?`),
  aliasTooLarge: (max: number): Reply => reply(550, '5.5.3', `Alias expands to more than ${max} addresses`),
  /** An SRS address of ours that we did not make, or made too long ago: bounces to forged senders stop here. */
  srsInvalid: (): Reply => reply(550, '5.7.1', 'Invalid SRS address: forged, damaged or expired'),
  /** Forwarding needs the relay's queue, which is not open yet (start) or not there. */
  forwardUnavailable: (): Reply => reply(451, '4.3.0', 'Forwarding unavailable, try again later'),

  // Mail authentication (inbound checks)
  dmarcRefused: (domain: string): Reply =>
    reply(550, '5.7.1', `Message refused: it fails DMARC, and the DMARC policy of ${domain} is reject`),
  headerSectionTooLarge: (max: number): Reply => reply(552, '5.3.4', `Message refused: header section over ${max} bytes`),
  /** RFC 6647 §2.1: a new (client, sender, recipient) triple is refused for a while; real MTAs retry. */
  greylisted: (): Reply => reply(451, '4.7.1', 'Greylisted, please try again later'),

  // Spam filter (end of DATA)
  spamRejected: (text = 'Message refused as spam'): Reply => reply(550, '5.7.1', text),
  spamDeferred: (text = 'Message deferred by the spam filter, try again later'): Reply => reply(451, '4.7.1', text),
  spamFilterUnavailable: (): Reply => reply(451, '4.7.1', 'Spam filter unavailable, try again later'),
} as const;
