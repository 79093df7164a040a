/**
 * The sample downstream API alone, in its own process, so that the bare proxy and every BFF
 * of a benchmark run call the same API. Prints one JSON line `bench.ready` with its URL.
 */
import { readFileSync } from 'node:fs';
import { SAMPLE_API_AUDIENCE } from '../../../server/dev-idp/provider';
import { createOutbound } from '../../../server/http/outbound';
import { startSampleApi } from '../../../server/sample-api';

const issuer = process.env.BENCH_ISSUER;
const caFile = process.env.BENCH_CA_FILE;
if (!issuer || !caFile) throw new Error('BENCH_ISSUER and BENCH_CA_FILE are required');
const outbound = createOutbound(readFileSync(caFile, 'utf8'));
const api = await startSampleApi({
  port: 0,
  issuer,
  jwksUri: `${issuer}/jwks`,
  audience: SAMPLE_API_AUDIENCE,
  requiredScope: 'api://sample-api/access_as_user',
  outbound,
});
process.stdout.write(`${JSON.stringify({ event: 'bench.ready', url: api.url })}\n`);
process.once('SIGTERM', async () => {
  await api.close();
  outbound.close();
  process.exit(0);
});
