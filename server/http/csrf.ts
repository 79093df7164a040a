import type { Context, Next } from 'koa';
import { HttpError } from '../errors';

/**
 * A static custom header (`X-CSRF: 1`) makes every cross-site call a CORS preflight, which the
 * BFF never grants; Sec-Fetch-Site: cross-site is refused outright where browsers send it.
 */
export async function requireCsrfHeader(ctx: Context, next: Next) {
  if (ctx.get('sec-fetch-site') === 'cross-site') {
    throw new HttpError(403, 'cross_site_request', 'Cross-site requests are not allowed.');
  }
  if (ctx.get('x-csrf') !== '1') {
    throw new HttpError(403, 'csrf_required', 'The X-CSRF: 1 header is required.');
  }
  await next();
}
