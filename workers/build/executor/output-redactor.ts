/** What a secret value is replaced with in the build output. */
export const REDACTED = '****';

/**
 * Replaces secret values in a stream of text, also when a value is split across two
 * chunks: the end of each chunk that could be the start of a value is held back until
 * the next chunk or `end`. Values shorter than 4 characters are not redacted, because
 * they would mask ordinary text.
 */
export class OutputRedactor {
  private readonly secrets: string[];
  private readonly holdBack: number;
  private pending = '';

  constructor(values: readonly Buffer[]) {
    this.secrets = [...new Set(values.map((value) => value.toString('utf8').trim()))].filter((value) => value.length >= 4).sort((a, b) => b.length - a.length);
    this.holdBack = Math.max(0, ...this.secrets.map((secret) => secret.length - 1));
  }

  /** Returns the text that is safe to show now. */
  write(text: string): string {
    if (this.secrets.length === 0) return text;
    const combined = this.redact(this.pending + text);
    const cut = Math.max(0, combined.length - this.holdBack);
    this.pending = combined.slice(cut);
    return combined.slice(0, cut);
  }

  /** Returns what is still held back, redacted. */
  end(): string {
    const rest = this.redact(this.pending);
    this.pending = '';
    return rest;
  }

  private redact(text: string): string {
    let result = text;
    for (const secret of this.secrets) result = result.split(secret).join(REDACTED);
    return result;
  }
}
