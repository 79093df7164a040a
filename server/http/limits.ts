import type { Context, Next } from 'koa';
import { HttpError } from '../errors';

export const MAX_URL_LENGTH = 8192;

/** No route needs a long URL: refuse one before any work (Node itself caps headers at 16 KiB). */
export async function boundedUrl(ctx: Context, next: Next) {
  if (ctx.url.length > MAX_URL_LENGTH) throw new HttpError(414, 'bad_request', `The URL exceeds ${MAX_URL_LENGTH} characters.`);
  await next();
}
