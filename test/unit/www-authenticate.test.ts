import { describe, expect, it } from 'vitest';
import { decodeClaims, tokenRejection } from '../../server/api/token-rejection';
import { challengesOf, MAX_FIELD_LENGTH, parseChallenges, type Challenge } from '../../server/api/www-authenticate';

/** A challenge as plain data, for toEqual. */
const plain = (c: Challenge) => ({ scheme: c.scheme, ...(c.token68 === undefined ? {} : { token68: c.token68 }), params: Object.fromEntries(c.params) });
const parse = (value: string) => parseChallenges(value)?.map(plain);
const b64 = (json: string) => Buffer.from(json).toString('base64');

/** RFC 9110 §11.6.1 / §11.2 / §5.6 as a Bearer client reads WWW-Authenticate. */
describe('WWW-Authenticate parser', () => {
  it('reads a Bearer challenge with token and quoted-string parameters', () => {
    expect(parse('Bearer realm="api", error=invalid_token, error_description="The token expired"')).toEqual([
      { scheme: 'bearer', params: { realm: 'api', error: 'invalid_token', error_description: 'The token expired' } },
    ]);
  });

  it('removes the escapes of quoted-pairs inside quoted strings', () => {
    expect(parse('Bearer error_description="a \\"quoted\\" word and a \\\\ backslash", x="\\a\\b"')).toEqual([
      { scheme: 'bearer', params: { error_description: 'a "quoted" word and a \\ backslash', x: 'ab' } },
    ]);
  });

  it('keeps commas, equals signs and spaces inside quoted strings as part of the value', () => {
    expect(parse('Bearer error="insufficient_claims", scope="a, b=c", claims="e30="')).toEqual([
      { scheme: 'bearer', params: { error: 'insufficient_claims', scope: 'a, b=c', claims: 'e30=' } },
    ]);
  });

  it('reads several challenges in one field, telling a new scheme from the next parameter (the RFC 9110 example)', () => {
    expect(parse('Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"')).toEqual([
      { scheme: 'newauth', params: { realm: 'apps', type: '1', title: 'Login to "apps"' } },
      { scheme: 'basic', params: { realm: 'simple' } },
    ]);
    expect(parse('Basic realm="x", Bearer error="invalid_token", Negotiate')).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { error: 'invalid_token' } },
      { scheme: 'negotiate', params: {} },
    ]);
  });

  it('reads token68 credentials, with and without padding, followed by more challenges', () => {
    expect(parse('Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXeg+/_-.~==, Bearer realm="r"')).toEqual([
      { scheme: 'negotiate', token68: 'YIIBhwYGKwYBBQUCoIIBezCCAXeg+/_-.~==', params: {} },
      { scheme: 'bearer', params: { realm: 'r' } },
    ]);
    expect(parse('Custom abc=')).toEqual([{ scheme: 'custom', token68: 'abc=', params: {} }]);
    expect(parse('Custom abc')).toEqual([{ scheme: 'custom', token68: 'abc', params: {} }]);
    // The grammar reads a lone "name=" as token68, not as a parameter without a value.
    expect(parse('Bearer error=')).toEqual([{ scheme: 'bearer', token68: 'error=', params: {} }]);
  });

  it('accepts odd but valid whitespace: tabs, spaces around "=" (BWS) and commas, empty list elements', () => {
    expect(parse(' ,\tBearer \t realm = "a" ,error\t=\tinvalid_token ,  , Basic\t')).toEqual([
      { scheme: 'bearer', params: { realm: 'a', error: 'invalid_token' } },
      { scheme: 'basic', params: {} },
    ]);
    expect(parse('')).toEqual([]);
    expect(parse(' , ,')).toEqual([]);
  });

  it('lower-cases scheme and parameter names (case-insensitive) and keeps values as sent', () => {
    expect(parse('BEARER Error="Invalid_Token", CLAIMS="AbC="')).toEqual([{ scheme: 'bearer', params: { error: 'Invalid_Token', claims: 'AbC=' } }]);
  });

  it('keeps an empty quoted string and obs-text', () => {
    expect(parse('Bearer realm="", x="caf\u00e9"')).toEqual([{ scheme: 'bearer', params: { realm: '', x: 'caf\u00e9' } }]);
  });

  it.each([
    ['an unterminated quoted string', 'Bearer error="insufficient_claims, claims="e30="'],
    ['a quoted string cut after a backslash', 'Bearer error="x\\'],
    ['a control character in a quoted string', 'Bearer error="a\u0001b"'],
    ['a raw newline in a quoted string', 'Bearer error="a\nb"'],
    ['a character above obs-text', 'Bearer error="\u2028"'],
    ['a parameter with no value', 'Bearer realm="x", error='],
    ['a parameter with no value before the next', 'Bearer error=, realm="x"'],
    ['a parameter named twice', 'Bearer error="invalid_token", ERROR="insufficient_claims"'],
    ['parameters without a comma between them', 'Bearer realm="x" error="invalid_token"'],
    ['an unquoted value with a space', 'Bearer error=invalid token'],
    ['a value that is neither token nor quoted string', 'Bearer claims=e30=='],
    ['a scheme glued to a quoted string', 'Bearer"x"'],
    ['a challenge that starts with a parameter', 'error="invalid_token"'],
    ['a bare quoted string', '"Bearer"'],
    ['a token68 followed by a parameter', 'Custom abc== realm="x"'],
    ['a token68 with characters after its padding', 'Custom ab=c='],
    ['a non-token character in a scheme', 'Bea[rer realm="x"'],
  ])('refuses the whole field on %s', (_kind, value) => {
    expect(parseChallenges(value)).toBeUndefined();
  });

  it('refuses a field longer than the limit without reading it', () => {
    expect(parseChallenges(`Bearer x="${'a'.repeat(MAX_FIELD_LENGTH)}"`)).toBeUndefined();
  });

  it('reads each field line on its own: a malformed line adds nothing, the others still count', () => {
    expect(challengesOf(['Bearer error="broken', 'Basic realm="x"']).map(plain)).toEqual([{ scheme: 'basic', params: { realm: 'x' } }]);
    expect(challengesOf(undefined)).toEqual([]);
  });

  it('answers for names on Object.prototype only when they were sent', () => {
    const [challenge] = parseChallenges('Bearer realm="x"')!;
    expect(challenge!.params.get('constructor')).toBeUndefined();
    expect(challenge!.params.has('__proto__')).toBe(false);
    const [sent] = parseChallenges('Bearer __proto__="x"')!;
    expect([...sent!.params]).toEqual([['__proto__', 'x']]);
  });
});

describe('what a 401 from the API asks for', () => {
  const claims = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';

  it('a claims challenge (Entra CAE / Conditional Access) asks for exactly its claims', () => {
    expect(tokenRejection([`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${b64(claims)}"`])).toEqual({ kind: 'claims', claims });
  });

  it('reads the claims value in either base64 alphabet, padded or not', () => {
    const json = '{"access_token":{"nbf":{"essential":true,"value":"1604106651"}},"x":"??>>"}';
    const standard = b64(json);
    const url = Buffer.from(json).toString('base64url');
    expect(standard).toMatch(/[+/]/);
    expect(decodeClaims(standard)).toBe(json);
    expect(decodeClaims(url)).toBe(json);
    expect(decodeClaims(standard.replace(/=+$/, ''))).toBe(json);
  });

  it('invalid_token is a revoked token, whatever else the challenge holds', () => {
    expect(tokenRejection(['Bearer error="invalid_token", error_description="revoked"'])).toEqual({ kind: 'invalid_token' });
    expect(tokenRejection(['bearer ERROR=invalid_token'])).toEqual({ kind: 'invalid_token' });
  });

  it('the first Bearer challenge with an error decides; other schemes and error-less challenges are passed over', () => {
    expect(tokenRejection([`Basic realm="x", Bearer realm="api", Bearer error="insufficient_claims", claims="${b64(claims)}", Bearer error="invalid_token"`])).toEqual({ kind: 'claims', claims });
    expect(tokenRejection(['Bearer error="invalid_token"', `Bearer error="insufficient_claims", claims="${b64(claims)}"`])).toEqual({ kind: 'invalid_token' });
  });

  it.each([
    ['no WWW-Authenticate', undefined],
    ['a Bearer token68 that looks like a parameter', ['Bearer error=']],
    ['a Bearer challenge without an error', ['Bearer realm="api"']],
    ['another error code', ['Bearer error="invalid_request"']],
    ['another scheme', ['Basic realm="api", DPoP error="invalid_token"']],
    ['insufficient_claims without claims', ['Bearer error="insufficient_claims"']],
    ['claims that are not base64', ['Bearer error="insufficient_claims", claims="{\\"access_token\\":{}}"']],
    ['claims in a mix of both base64 alphabets', [`Bearer error="insufficient_claims", claims="${b64('{"x":"??>>??~~"}').replace('/', '_')}"`]],
    ['claims cut by one character', [`Bearer error="insufficient_claims", claims="${b64(claims).replace(/=+$/, '')}A"`]],
    ['claims that are not JSON', [`Bearer error="insufficient_claims", claims="${b64('not json')}"`]],
    ['claims that are a JSON array', [`Bearer error="insufficient_claims", claims="${b64('[1,2]')}"`]],
    ['claims that are JSON null', [`Bearer error="insufficient_claims", claims="${b64('null')}"`]],
    ['claims that are a JSON string', [`Bearer error="insufficient_claims", claims="${b64('"x"')}"`]],
    ['claims that are not UTF-8', [`Bearer error="insufficient_claims", claims="${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64')}"`]],
    ['claims over 2 KB', [`Bearer error="insufficient_claims", claims="${b64(JSON.stringify({ access_token: { x: 'a'.repeat(2100) } }))}"`]],
    ['an unterminated quoted string', [`Bearer error="insufficient_claims", claims="${b64(claims)}`]],
    ['the error named twice', [`Bearer error="insufficient_claims", claims="${b64(claims)}", error="invalid_token"`]],
  ])('%s is any other 401', (_kind, lines) => {
    expect(tokenRejection(lines)).toEqual({ kind: 'other' });
  });
});
