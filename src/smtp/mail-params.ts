// The ESMTP parameters facteur accepts on MAIL (SIZE, BODY, SMTPUTF8) and on RCPT (none), validated.
import type { EsmtpParams } from './path-parser.js';
import { replies } from './replies.js';
import { SmtpError } from './smtp-error.js';

export interface MailParams {
  /** The size the client declared (RFC 1870), or null. */
  readonly size: number | null;
  /** The body may hold 8-bit octets: BODY=8BITMIME (RFC 6152) or SMTPUTF8. */
  readonly eightBit: boolean;
  /** The client asked for SMTPUTF8 (RFC 6531). */
  readonly smtputf8: boolean;
}

/** Digits enough for any real size; longer is nonsense and must not reach Number(). */
const SIZE_VALUE = /^[0-9]{1,20}$/;

/** MAIL parameters: SIZE (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531, no value). */
export function parseMailParams(params: EsmtpParams, opts: { maxSize: number }): MailParams {
  let size: number | null = null;
  let body8 = false;
  let smtputf8 = false;
  for (const [keyword, value] of params) {
    switch (keyword) {
      case 'SIZE': {
        if (value === true || !SIZE_VALUE.test(value)) {
          throw new SmtpError(replies.badParameter('SIZE needs a decimal number of octets'));
        }
        size = Number(value);
        // RFC 1870 §6: a declared size above the limit is refused at once with 552.
        if (size > opts.maxSize) throw new SmtpError(replies.messageTooBig(opts.maxSize));
        break;
      }
      case 'BODY': {
        const body = value === true ? '' : value.toUpperCase();
        if (body === '7BIT') body8 = false;
        else if (body === '8BITMIME') body8 = true;
        else throw new SmtpError(replies.badParameter('BODY must be 7BIT or 8BITMIME'));
        break;
      }
      case 'SMTPUTF8': {
        if (value !== true) throw new SmtpError(replies.badParameter('SMTPUTF8 takes no value'));
        smtputf8 = true;
        break;
      }
      default:
        throw new SmtpError(replies.unknownParameter(shown(keyword)));
    }
  }
  // SMTPUTF8 implies an 8-bit body: UTF-8 headers (RFC 6531 §3.1 requires 8BITMIME alongside it).
  return { size, eightBit: body8 || smtputf8, smtputf8 };
}

/** RCPT parameters: none supported (DSN's NOTIFY and ORCPT are not offered). */
export function parseRcptParams(params: EsmtpParams): void {
  for (const keyword of params.keys()) throw new SmtpError(replies.unknownParameter(shown(keyword)));
}

/** The keyword as echoed in a reply: it is already ALPHA/DIGIT/"-" only, but may be long. */
const shown = (keyword: string): string => (keyword.length > 40 ? `${keyword.slice(0, 40)}...` : keyword);
