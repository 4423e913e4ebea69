// The SASL mechanisms offered to mail clients: PLAIN (RFC 4616) and LOGIN (the draft every client still speaks).
import { replies } from '../smtp/replies.js';
import type { SaslExchange, SaslStep } from '../smtp/server/auth-service.js';

/** Checks a login: authorization identity (empty: the same user), authentication identity, password. */
export type VerifyLogin = (authzid: string, authcid: string, password: string) => Promise<SaslStep>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const malformed = (): SaslStep => ({ kind: 'failure', reply: replies.syntax('malformed SASL response') });
const text = (b: Buffer): string | null => {
  try {
    return utf8.decode(b);
  } catch {
    return null;
  }
};

/** PLAIN: one message "authzid NUL authcid NUL passwd" (RFC 4616 §2), after an empty challenge if none came with AUTH. */
export class PlainExchange implements SaslExchange {
  #challenged = false;

  constructor(private readonly verify: VerifyLogin) {}

  async next(response: Buffer | null): Promise<SaslStep> {
    if (response === null) {
      if (this.#challenged) return malformed();
      this.#challenged = true;
      return { kind: 'challenge', data: Buffer.alloc(0) };
    }
    const message = text(response);
    const parts = message?.split('\0');
    if (parts?.length !== 3) return malformed();
    const [authzid, authcid, password] = parts as [string, string, string];
    if (authcid === '' || password === '') return malformed();
    return this.verify(authzid, authcid, password);
  }
}

const USERNAME = Buffer.from('Username:');
const PASSWORD = Buffer.from('Password:');

/** LOGIN: "Username:" then "Password:" challenges; an initial response with AUTH is the user name. */
export class LoginExchange implements SaslExchange {
  #user: string | null = null;
  #asked = false;

  constructor(private readonly verify: VerifyLogin) {}

  async next(response: Buffer | null): Promise<SaslStep> {
    if (response === null) {
      if (this.#asked) return malformed();
      this.#asked = true;
      return { kind: 'challenge', data: USERNAME };
    }
    this.#asked = true;
    const value = text(response);
    if (value === null || value === '' || value.includes('\0')) return malformed();
    if (this.#user === null) {
      this.#user = value;
      return { kind: 'challenge', data: PASSWORD };
    }
    return this.verify('', this.#user, value);
  }
}
