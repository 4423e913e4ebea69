// An SMTP reply (RFC 5321 §4.2) with its enhanced status code (RFC 3463), and its wire form.

export interface Reply {
  /** The three-digit basic code, e.g. 250. */
  readonly code: number;
  /** The enhanced status code, e.g. "2.1.0"; null only for the greeting and EHLO lines, where RFC 2034 §3 omits it. */
  readonly enhanced: string | null;
  /** One entry per line of text; never empty. */
  readonly lines: readonly string[];
}

export function reply(code: number, enhanced: string | null, text: string | readonly string[]): Reply {
  const lines = typeof text === 'string' ? [text] : text.length > 0 ? [...text] : [''];
  return { code, enhanced, lines };
}

/** Formats a reply as "250-2.0.0 first\r\n250 2.0.0 last\r\n" (RFC 5321 §4.2.1). */
export function formatReply(r: Reply): string {
  const prefix = r.enhanced === null ? '' : `${r.enhanced} `;
  let out = '';
  const last = r.lines.length - 1;
  r.lines.forEach((line, i) => {
    // CR or LF inside a line would end the reply early and desynchronise the client: never let one through.
    const safe = line.replace(/[\r\n]/g, ' ');
    out += `${r.code}${i === last ? ' ' : '-'}${prefix}${safe}\r\n`;
  });
  return out;
}

/** A 4xx reply: the sender should try again later. */
export const isTransient = (r: Reply): boolean => r.code >= 400 && r.code < 500;
/** A 5xx reply: trying again will not help. */
export const isPermanent = (r: Reply): boolean => r.code >= 500 && r.code < 600;
/** A 2xx reply. */
export const isPositive = (r: Reply): boolean => r.code >= 200 && r.code < 300;

/** The reply as one line for logs and bounces: "550 5.1.1 No such user here". */
export function replyText(r: Reply): string {
  return `${r.code} ${r.enhanced === null ? '' : `${r.enhanced} `}${r.lines.join(' ')}`;
}
