/**
 * WWW-Authenticate, RFC 9110 §11.6.1: a list of challenges, each an auth-scheme followed by
 * a token68 or by auth-params (§11.2, §11.3):
 *
 *   challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param  = token BWS "=" BWS ( token / quoted-string )
 *   token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *
 * A comma ends an auth-param and may start the next challenge; what follows tells which (a
 * token then "=" is a parameter). No library fitted: auth-header takes one challenge per field
 * line, http-auth-utils knows Basic, Digest and Bearer only.
 */
export interface Challenge {
  /** Lower-cased: schemes are case-insensitive (§11.1). */
  scheme: string;
  token68?: string;
  /** Names lower-cased (§11.2); values with their quotes and escapes removed. */
  params: ReadonlyMap<string, string>;
}

/** Longer field values are refused unread (Node's own header limit is 16 KB in all). */
export const MAX_FIELD_LENGTH = 16 * 1024;

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;
const isWhitespace = (c: string | undefined) => c === ' ' || c === '\t';

/**
 * The challenges of one WWW-Authenticate field value, in order; undefined when any part of it
 * breaks the grammar (an unterminated or badly escaped quoted-string, a parameter without a
 * value, one named twice in a challenge, stray characters) or it is too long: a field that
 * cannot be read whole is not read at all.
 */
export function parseChallenges(value: string): Challenge[] | undefined {
  if (value.length > MAX_FIELD_LENGTH) return undefined;
  try {
    return new Reader(value).challenges();
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}

/** Challenges from every field line (Node's `headersDistinct`); a malformed line adds none. */
export function challengesOf(fieldLines: readonly string[] | undefined): Challenge[] {
  return (fieldLines ?? []).flatMap((line) => parseChallenges(line) ?? []);
}

class Malformed extends Error {}

class Reader {
  private pos = 0;

  constructor(private readonly text: string) {}

  challenges(): Challenge[] {
    const found: Challenge[] = [];
    // §5.6.1: a recipient accepts empty list elements (", ,").
    this.skipSeparators();
    while (!this.atEnd()) {
      found.push(this.challenge());
      this.skipSeparators();
    }
    return found;
  }

  private challenge(): Challenge {
    const scheme = this.token().toLowerCase();
    const params = new Map<string, string>();
    const gap = this.skipWhitespace();
    if (this.atEnd() || this.peek() === ',') return { scheme, params };
    if (gap === 0) throw new Malformed();
    if (!this.paramAhead()) {
      const token68 = this.token68();
      this.skipWhitespace();
      if (!this.atEnd() && this.peek() !== ',') throw new Malformed();
      return { scheme, token68, params };
    }
    for (;;) {
      const name = this.token().toLowerCase();
      this.skipWhitespace();
      this.expect('=');
      this.skipWhitespace();
      const value = this.peek() === '"' ? this.quotedString() : this.token();
      // §11.2: each parameter name occurs once per challenge; two would be read two ways.
      if (params.has(name)) throw new Malformed();
      params.set(name, value);
      this.skipWhitespace();
      if (this.atEnd()) break;
      if (this.peek() !== ',') throw new Malformed();
      const next = this.pos;
      this.skipSeparators();
      if (this.atEnd()) break;
      if (!this.paramAhead()) {
        // The next challenge starts here; the caller skips the separators again.
        this.pos = next;
        break;
      }
    }
    return { scheme, params };
  }

  /** Whether the input here reads `token BWS "=" BWS (token / quoted-string)`, not a token68 or a scheme. */
  private paramAhead(): boolean {
    let i = this.pos;
    while (i < this.text.length && TCHAR.test(this.text[i]!)) i++;
    if (i === this.pos) return false;
    while (isWhitespace(this.text[i])) i++;
    if (this.text[i] !== '=') return false;
    i++;
    while (isWhitespace(this.text[i])) i++;
    const c = this.text[i];
    return c === '"' || (c !== undefined && TCHAR.test(c));
  }

  private token(): string {
    const start = this.pos;
    while (!this.atEnd() && TCHAR.test(this.peek()!)) this.pos++;
    if (this.pos === start) throw new Malformed();
    return this.text.slice(start, this.pos);
  }

  private token68(): string {
    const start = this.pos;
    while (!this.atEnd() && TOKEN68_CHAR.test(this.peek()!)) this.pos++;
    if (this.pos === start) throw new Malformed();
    while (this.peek() === '=') this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** RFC 9110 §5.6.4: qdtext and quoted-pairs; control characters other than HTAB are refused. */
  private quotedString(): string {
    this.expect('"');
    let value = '';
    for (;;) {
      const c = this.next();
      if (c === '"') return value;
      if (c === '\\') {
        const escaped = this.next();
        if (!isQuotable(escaped)) throw new Malformed();
        value += escaped;
      } else if (isQuotable(c)) {
        value += c;
      } else {
        throw new Malformed();
      }
    }
  }

  /** OWS "," OWS, any number of times (empty list elements). */
  private skipSeparators() {
    for (;;) {
      this.skipWhitespace();
      if (this.peek() !== ',') return;
      this.pos++;
    }
  }

  private skipWhitespace(): number {
    const start = this.pos;
    while (isWhitespace(this.peek())) this.pos++;
    return this.pos - start;
  }

  private expect(c: string) {
    if (this.next() !== c) throw new Malformed();
  }

  private next(): string {
    if (this.atEnd()) throw new Malformed();
    return this.text[this.pos++]!;
  }

  private peek(): string | undefined {
    return this.text[this.pos];
  }

  private atEnd(): boolean {
    return this.pos >= this.text.length;
  }
}

/** HTAB, SP, VCHAR or obs-text: what a quoted-string may hold, escaped or not (DQUOTE and "\" only escaped). */
function isQuotable(c: string): boolean {
  const code = c.charCodeAt(0);
  return code === 0x09 || (code >= 0x20 && code <= 0x7e) || (code >= 0x80 && code <= 0xff);
}
