import type { Context } from 'koa';
import { HttpError } from '../errors';

/**
 * Reads a small urlencoded form body, bounded: the logout token and the dev IdP's login form
 * are the only bodies the BFF side parses.
 */
export async function readForm(ctx: Context, limitBytes = 16 * 1024): Promise<URLSearchParams> {
  const type = ctx.request.type;
  if (type !== 'application/x-www-form-urlencoded') {
    throw new HttpError(400, 'bad_request', 'Expected an application/x-www-form-urlencoded body.');
  }
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > limitBytes) throw new HttpError(413, 'payload_too_large', `The body exceeds ${limitBytes} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) throw new HttpError(413, 'payload_too_large', `The body exceeds ${limitBytes} bytes.`);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
