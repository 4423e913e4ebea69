// The `code` of a Node.js system error ("ENOENT", "EEXIST", ...), or undefined for anything else.
export const errorCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
