// An error that carries the SMTP reply it should produce (the shape of go-smtp's SMTPError).
import { type Reply, replyText } from '../mail/reply.js';

export class SmtpError extends Error {
  constructor(readonly reply: Reply, options?: ErrorOptions) {
    super(replyText(reply), options);
    this.name = 'SmtpError';
  }
}

export const isSmtpError = (err: unknown): err is SmtpError => err instanceof SmtpError;
