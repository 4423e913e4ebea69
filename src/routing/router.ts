// The router: a recipient address → where its mail goes (routing/route.ts), or the SmtpError that refuses it.
// Rules, first match wins (README, Addresses): our SRS addresses; the exact address (an alias, else a mailbox); its
// subaddress base ("alice+shop" → alice); the domain's catch-all ("@example.org"). Aliases expand once, here, at
// RCPT time: each target through the same rules, with loop detection and limits on depth and size.
import { addressKey, formatAddress, type Address } from '../mail/address.js';
import { MAX_ALIAS_TARGETS } from '../mail/alias-rules.js';
import { replies } from '../smtp/replies.js';
import { SmtpError } from '../smtp/smtp-error.js';
import { isSrsLocal, SrsError, type Srs } from '../srs/srs.js';
import type { AliasTable } from './alias-table.js';
import type { MailboxTarget, Route, RouteNode } from './route.js';
import { isSafeFolderName, splitDetail } from './subaddress.js';

/** Alias levels followed before the expansion is refused as a probable loop (Postfix's limit is 1000; 8 is plenty). */
export const MAX_ALIAS_DEPTH = 8;

/** What the router asks of the local users (inbound/mailboxes.ts, through MaildirDelivery so that a reload is seen). */
export interface RouterDeps {
  /** The mailbox of exactly this address ({local: "", domain} is the domain's catch-all), or null. */
  readonly mailbox: (a: Address) => string | null;
  readonly isLocalDomain: (domain: string) => boolean;
  /** Whether the mailbox has the Maildir++ folder .<folder> already (never made for a detail). */
  readonly folderExists: (mailbox: string, folder: string) => Promise<boolean>;
  /** Our SRS, or null when forwarding is off. */
  readonly srs: Srs | null;
  /** Told of every SRS address refused, with why (for the log). */
  readonly onSrsRefused?: (address: string, err: SrsError) => void;
}

/** The settings a reload may change. */
export interface RouterSettings {
  readonly aliases: AliasTable;
  /** recipient_delimiter: any one of these characters splits off the detail; "" turns subaddressing off. */
  readonly delimiters: string;
  /** deliver_to_subfolder. */
  readonly deliverToSubfolder: boolean;
}

/** What one expansion has gathered so far. */
interface Gathered {
  readonly mailboxes: Map<string, MailboxTarget>;
  readonly forwards: Map<string, Address>;
}

export class Router {
  readonly #deps: RouterDeps;
  #settings: RouterSettings;

  constructor(deps: RouterDeps, settings: RouterSettings) {
    this.#deps = deps;
    this.#settings = settings;
  }

  /** SIGHUP: aliases and subaddressing as reloaded (a transaction in progress keeps the routes it was given). */
  update(settings: RouterSettings): void {
    this.#settings = settings;
  }

  get settings(): RouterSettings {
    return this.#settings;
  }

  /**
   * Where mail for `to` goes. Throws SmtpError: 550 5.7.1 for a domain not ours (relaying) or a bad SRS address,
   * 550 5.1.1 when nothing takes it, 550 5.4.6 for an alias loop or too deep an expansion, 550 5.5.3 too many targets.
   */
  async route(to: Address): Promise<Route> {
    const got: Gathered = { mailboxes: new Map(), forwards: new Map() };
    const tree = await this.#resolve(to, [], got);
    // An alias whose every target leads nowhere takes nothing: the recipient is unknown.
    if (got.mailboxes.size === 0 && got.forwards.size === 0) throw new SmtpError(replies.unknownMailbox());
    return { recipient: to, mailboxes: [...got.mailboxes.values()], forwards: [...got.forwards.values()], tree };
  }

  async #resolve(a: Address, path: readonly string[], got: Gathered): Promise<RouteNode> {
    const address = formatAddress(a);
    const key = addressKey(a);
    if (path.includes(key)) throw new SmtpError(replies.aliasLoop([...path, key].join(' -> ')));
    if (path.length > MAX_ALIAS_DEPTH) throw new SmtpError(replies.aliasTooDeep(MAX_ALIAS_DEPTH));
    const inner = [...path, key];
    const top = path.length === 0;
    const domain = a.domain.toLowerCase();
    const { srs } = this.#deps;

    // Our SRS addresses first (their local parts hold "+" and "=", and their domain may be no local domain at all).
    if (srs !== null && domain === srs.domain && isSrsLocal(a.local)) {
      let original: Address;
      try {
        original = srs.reverse(a.local);
      } catch (err) {
        if (!(err instanceof SrsError)) throw err;
        this.#deps.onSrsRefused?.(address, err);
        throw new SmtpError(replies.srsInvalid());
      }
      return { address, rule: 'srs', via: formatAddress(original), children: [await this.#resolve(original, inner, got)] };
    }
    const barePostmaster = a.domain === '' && a.local.toLowerCase() === 'postmaster';
    if (!barePostmaster && !this.#deps.isLocalDomain(domain)) {
      // A client's recipient in another domain is relaying; an alias's target there is a forward.
      if (top) throw new SmtpError(replies.relayDenied());
      return this.#forward(a, address, got);
    }
    const { aliases, delimiters } = this.#settings;
    const exactAlias = aliases.get(key);
    if (exactAlias !== undefined) return this.#expand(address, key, exactAlias, inner, got);
    const exact = this.#deps.mailbox(a);
    if (exact !== null) return this.#deliver(a, address, 'mailbox', exact, null, got);

    const split = splitDetail(a.local, delimiters);
    if (split !== null) {
      const base: Address = { local: split.base, domain: a.domain };
      const baseKey = addressKey(base);
      const baseAlias = aliases.get(baseKey);
      if (baseAlias !== undefined) return this.#expand(address, baseKey, baseAlias, inner, got);
      const mailbox = this.#deps.mailbox(base);
      if (mailbox !== null) {
        const { folder, note } = await this.#folder(mailbox, split.detail);
        return this.#deliver(a, address, 'subaddress', mailbox, folder, got, note);
      }
    }
    if (domain !== '') {
      const catchAllKey = `@${domain}`;
      const catchAlias = aliases.get(catchAllKey);
      if (catchAlias !== undefined) return this.#expand(address, catchAllKey, catchAlias, inner, got);
      const mailbox = this.#deps.mailbox({ local: '', domain });
      if (mailbox !== null) return { ...this.#deliver(a, address, 'catch-all', mailbox, null, got), via: catchAllKey };
    }
    if (top) throw new SmtpError(replies.unknownMailbox());
    // A target of an alias that leads nowhere: the others still get the mail (check-config reports it).
    return { address, rule: 'dropped', reply: replies.unknownMailbox() };
  }

  async #expand(address: string, via: string, targets: readonly string[], inner: readonly string[], got: Gathered): Promise<RouteNode> {
    const children: RouteNode[] = [];
    for (const target of targets) {
      const at = target.lastIndexOf('@');
      children.push(await this.#resolve({ local: target.slice(0, at), domain: target.slice(at + 1) }, inner, got));
    }
    return { address, rule: 'alias', via, children };
  }

  #deliver(a: Address, address: string, rule: 'mailbox' | 'subaddress' | 'catch-all', mailbox: string, folder: string | null, got: Gathered, note?: string): RouteNode {
    if (!got.mailboxes.has(mailbox)) {
      this.#count(got);
      got.mailboxes.set(mailbox, { mailbox, folder, address: a });
    }
    return { address, rule, mailbox, folder, ...(note === undefined ? {} : { note }) };
  }

  #forward(a: Address, address: string, got: Gathered): RouteNode {
    const key = addressKey(a);
    if (!got.forwards.has(key)) {
      this.#count(got);
      got.forwards.set(key, a);
    }
    return { address, rule: 'forward' };
  }

  #count(got: Gathered): void {
    if (got.mailboxes.size + got.forwards.size >= MAX_ALIAS_TARGETS) throw new SmtpError(replies.aliasTooLarge(MAX_ALIAS_TARGETS));
  }

  /** The folder a detail names, when subfolders are on, the name is safe and the folder exists; else the inbox, and why. */
  async #folder(mailbox: string, detail: string): Promise<{ folder: string | null; note?: string }> {
    if (detail === '') return { folder: null };
    if (!this.#settings.deliverToSubfolder) return { folder: null, note: 'deliver_to_subfolder is off' };
    if (!isSafeFolderName(detail)) return { folder: null, note: `"${detail}" is not a folder name facteur uses` };
    if (!(await this.#deps.folderExists(mailbox, detail))) return { folder: null, note: `no folder .${detail}` };
    return { folder: detail };
  }
}
