// The text of a thrown value, for log lines, diagnostics and command output.

/** An Error's message, or the value itself as a string (something other than an Error was thrown). */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
