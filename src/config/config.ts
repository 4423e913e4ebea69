// The effective configuration, after defaults, unit parsing and path resolution (every key: README, Configuration).
// Every path here is absolute; every duration is in milliseconds; every size is in bytes.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

/** One listen address: "[::]:25" → { host: "::", port: 25 }. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
  /** As written in the config, for messages: "[::]:25". */
  readonly text: string;
}

export interface InboundConfig {
  readonly enabled: boolean;
  readonly listen: readonly ListenAddress[];
  readonly listenTls: readonly ListenAddress[];
  /** Local domains, lower-cased. */
  readonly domains: readonly string[];
  /** <data_dir>/<maildir_root>, absolute. */
  readonly maildirRoot: string;
  /** Absolute path of the "carte"-format users file, or null. */
  readonly usersFile: string | null;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  /** Command lines in a row without an accepted message before 421 (EHLO, MAIL, RCPT, RSET, NOOP… all count). */
  readonly maxIdleCommands: number;
  /** Longest session, in ms (checked before each command). */
  readonly maxSessionTime: number;
  /** Silence asked of a new client before it is greeted, in ms (0: none); one that talks first gets 554 5.5.0. */
  readonly greetPause: number;
  /** Per client (an IPv4 address, or an IPv6 /64): connections at once; connections, MAIL and RCPT per minute. */
  readonly maxConnectionsPerClient: number;
  readonly maxConnectionRate: number;
  readonly maxMessageRate: number;
  readonly maxRecipientRate: number;
  /** Networks the per-client limits never apply to (CIDR or single addresses). */
  readonly limitsExempt: readonly string[];
  /** mailbox name → addresses delivered into it (from [inbound.users]). */
  readonly users: Readonly<Record<string, readonly string[]>>;
  /** SPF, DKIM, DMARC and ARC checks at the end of DATA, with an Authentication-Results header. */
  readonly verify: boolean;
  /** "enforce": DMARC p=reject failures get 550 5.7.1, p=quarantine ones go to .Junk/; "report": only recorded. */
  readonly dmarcPolicy: 'enforce' | 'report';
}

export interface DkimConfig {
  /** Domains whose mail is signed (From: domain), lower-cased. */
  readonly domains: readonly string[];
  /** The default selector of `facteur dkim keygen`. */
  readonly selector: string;
  /** <data_dir>/dkim: <domain>/<selector>.key files. */
  readonly keyDir: string;
}

export interface OutboundConfig {
  readonly enabled: boolean;
  readonly listen: readonly ListenAddress[];
  /** <data_dir>/<queue_dir>, absolute. */
  readonly queueDir: string;
  /** Port dialled on remote MX hosts. */
  readonly smtpPort: number;
  /**
   * The relay's DNS servers: outbound.dns_servers, else the top-level dns_servers (the one resolver of the
   * program); empty: the nameservers of /etc/resolv.conf.
   */
  readonly dnsServers: readonly string[];
  /**
   * The floor under every domain's TLS policy (src/outbound/tls-policy/host-policy.ts): "opportunistic", STARTTLS
   * when offered, plain text otherwise; "required", never plain text; "verify", never plain text and a certificate
   * verified for the MX host name. MTA-STS and DANE may ask more of a domain's hosts, never less.
   */
  readonly tls: 'opportunistic' | 'required' | 'verify';
  /** Absolute path of a PEM file of CAs trusted beyond the system's (MX hosts and MTA-STS policy hosts), or null. */
  readonly caFile: string | null;
  /** Honour MTA-STS policies (RFC 8461). */
  readonly mtaSts: boolean;
  /** Honour DANE TLSA records (RFC 7672); needs DNS servers that validate DNSSEC (the AD bit). */
  readonly dane: boolean;
  readonly retryMin: number;
  readonly retryMax: number;
  readonly queueLifetime: number;
  readonly maxMessageSize: number;
  readonly maxRecipients: number;
  readonly maxConnections: number;
  /** Command lines in a row without an accepted message before 421 (EHLO, MAIL, RCPT, RSET, NOOP… all count). */
  readonly maxIdleCommands: number;
  /** Longest session, in ms (checked before each command). */
  readonly maxSessionTime: number;
  /** Deliveries in flight at once, in total and towards one domain. */
  readonly concurrency: number;
  readonly concurrencyPerDomain: number;
}

/** [submission]: mail clients sending with a password (RFC 6409 on 587 with STARTTLS, RFC 8314 implicit TLS). */
export interface SubmissionConfig {
  readonly enabled: boolean;
  /** STARTTLS, then AUTH. */
  readonly listen: readonly ListenAddress[];
  /** Implicit TLS. */
  readonly listenTls: readonly ListenAddress[];
  /** Absolute path of the file `facteur passwd` writes (relative to the config's folder in the file). */
  readonly passwordsFile: string;
  /** Failed logins from one IP within authFailureWindow (ms) after which it is refused for authBan (ms). */
  readonly maxAuthFailures: number;
  readonly authFailureWindow: number;
  readonly authBan: number;
  /** Messages one authenticated user may send in any hour. */
  readonly maxMessagesPerHour: number;
  /** Name the authenticated user in the Received header. */
  readonly receivedShowsUser: boolean;
  readonly maxConnections: number;
}

/** Timeouts of the SMTP dialogue (RFC 5321 §4.5.3.2), in ms. */
export interface TimeoutsConfig {
  /** Server: waiting for the next command (§4.5.3.2.7: at least 5 minutes). */
  readonly command: number;
  /** Server: waiting for the next chunk of DATA. */
  readonly data: number;
  /** Client: connect + greeting (§4.5.3.2.1: 5 minutes). */
  readonly connect: number;
  /** Grace period given to sessions at shutdown. */
  readonly shutdownGrace: number;
}

export interface Config {
  /** Absolute path of the file read, or null for built-in defaults. */
  readonly file: string | null;
  readonly hostname: string;
  readonly dataDir: string;
  /** The DNS servers of every lookup (top-level dns_servers); empty: the nameservers of /etc/resolv.conf. */
  readonly dnsServers: readonly string[];
  readonly log: { readonly level: LogLevel; readonly file: string | null };
  readonly tls: {
    readonly cert: string | null;
    readonly key: string | null;
    /** OpenSSL cipher list (TLS 1.2 suites, and TLS 1.3 TLS_* names). */
    readonly ciphers: string;
    readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  };
  readonly timeouts: TimeoutsConfig;
  /** The Prometheus endpoint's address, or null: no endpoint. */
  readonly metrics: { readonly listen: ListenAddress | null };
  readonly inbound: InboundConfig;
  readonly outbound: OutboundConfig;
  readonly submission: SubmissionConfig;
  readonly dkim: DkimConfig;
}
