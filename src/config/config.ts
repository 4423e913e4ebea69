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
  /** Networks the per-client limits never apply to (CIDR or single addresses); the DNSBL and greylisting skip them too. */
  readonly limitsExempt: readonly string[];
  /** DNS blocklists asked about each client before the greeting; empty: none. */
  readonly dnsbl: readonly DnsblZone[];
  /** Longest wait for the blocklists' answers, in ms; past it the client is let in. */
  readonly dnsblTimeout: number;
  /** Greylisting of (client network, sender, recipient) triples at RCPT, off by default. */
  readonly greylist: GreylistConfig;
  /** The rspamd spam filter asked at the end of DATA, or null (off). */
  readonly rspamd: RspamdConfig | null;
  /** mailbox name → addresses delivered into it (from [inbound.users]). */
  readonly users: Readonly<Record<string, readonly string[]>>;
  /** SPF, DKIM, DMARC and ARC checks at the end of DATA, with an Authentication-Results header. */
  readonly verify: boolean;
  /** "enforce": DMARC p=reject failures get 550 5.7.1, p=quarantine ones go to .Junk/; "report": only recorded. */
  readonly dmarcPolicy: 'enforce' | 'report';
  /** Addresses (README, Addresses): any one of these characters splits "alice+shop" into alice and "shop"; "": off. */
  readonly recipientDelimiter: string;
  /** "alice+shop" goes into alice's Maildir++ folder .shop when it already exists. */
  readonly deliverToSubfolder: boolean;
  /** alias ("info@example.org", or "@example.org" for a catch-all) → targets, from [inbound.aliases]. */
  readonly aliases: Readonly<Record<string, readonly string[]>>;
  /** The domain of our SRS addresses (SRS0=…@srsDomain): srs_domain, else the first local domain; null without any. */
  readonly srsDomain: string | null;
  /** Absolute path of the SRS secrets file (made, mode 0600, on first start). */
  readonly srsSecretFile: string;
  /** How long an SRS address we made is honoured, in ms (its timestamp has a day's resolution). */
  readonly srsMaxAge: number;
  /** The local store: Maildirs written by facteur, or LMTP to a server such as Dovecot (README, With Dovecot). */
  readonly store: StoreConfig;
}

/** Where the LMTP server listens: a Unix socket (Dovecot's usual /run/dovecot/lmtp) or TCP on an IP address. */
export type LmtpEndpoint =
  | { readonly kind: 'unix'; readonly path: string; readonly text: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly text: string };

/** How mail for local mailboxes is stored (inbound.delivery and the keys around it). */
export interface StoreConfig {
  readonly delivery: 'maildir' | 'lmtp';
  /** inbound.lmtp; null unless set (required by delivery = "lmtp"). */
  readonly lmtp: LmtpEndpoint | null;
  /** What RCPT TO the LMTP server is given: the mailbox name (Dovecot's user) or the address as the client wrote it. */
  readonly lmtpRecipient: 'mailbox' | 'address';
  /** Each wait on the LMTP server, in ms (the final replies after the dot may take this long). */
  readonly lmtpTimeout: number;
  /** Default quota of every mailbox in bytes (0: none), when facteur writes the Maildirs. */
  readonly quota: number;
  /** Per-mailbox quotas in bytes (0: none), over `quota`. */
  readonly quotas: Readonly<Record<string, number>>;
  /** The group that may read the Maildirs (files 0640, folders 0750), or null: private to facteur (0600/0700). */
  readonly maildirGroup: string | null;
  /** The group may also write (files 0660, folders 2770): what a Dovecot that flags, expunges and counts quota needs. */
  readonly maildirGroupWrite: boolean;
}

export interface DkimConfig {
  /** Domains whose mail is signed (From: domain), lower-cased. */
  readonly domains: readonly string[];
  /** The default selector of `facteur dkim keygen`. */
  readonly selector: string;
  /** <data_dir>/dkim: <domain>/<selector>.key files. */
  readonly keyDir: string;
}

/** One DNS blocklist: "zen.spamhaus.org", or "zen.spamhaus.org=127.0.0.2,127.0.0.4" to count only those answers. */
export interface DnsblZone {
  /** The zone, lower-cased, without a final dot. */
  readonly zone: string;
  /** The answers that mean "listed"; null: any answer in 127.0.0.0/8 but 127.255.255.0/24. */
  readonly codes: readonly string[] | null;
}

/** Greylisting (RFC 6647), in ms. */
export interface GreylistConfig {
  readonly enabled: boolean;
  /** How long a new triple is refused; a retry after it passes. */
  readonly delay: number;
  /** A triple not retried within this time after it was first seen is forgotten. */
  readonly expire: number;
  /** How long a triple that passed (and an auto-whitelisted client network) is remembered after its last use. */
  readonly lifetime: number;
  /** Triples a client network must pass by retrying before it skips greylisting; 0: never. */
  readonly autoWhitelist: number;
}

/** The rspamd spam filter ([inbound.rspamd]). */
export interface RspamdConfig {
  /** Base URL of rspamd's normal worker, e.g. "http://127.0.0.1:11333". */
  readonly url: string;
  /** Longest wait for rspamd (to read a block, to answer), in ms. */
  readonly timeout: number;
  /** rspamd unreachable or failing: accept the message (logged), or defer it with 451 4.7.1. */
  readonly fail: 'accept' | 'defer';
  /** "add header" and "rewrite subject" file the message as junk (Maildir++ .Junk/), not only mark it. */
  readonly spamToJunk: boolean;
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
  /** Which addresses of an MX host are tried first: "ipv6" (AAAA then A), "ipv4", or "any" (alternating). */
  readonly addressPreference: 'ipv6' | 'ipv4' | 'any';
  /** The addresses to send from, per family; null: the system's choice. */
  readonly sourceIpv4: string | null;
  readonly sourceIpv6: string | null;
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
  /** Worker processes serving connections: "auto" (one per CPU) or a number; 1 runs everything in one process. */
  readonly workers: number | 'auto';
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
