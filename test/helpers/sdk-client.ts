/**
 * One SDK client against the transport-level SSE test server, both closed at teardown: the set-up the
 * SDK's unit tests share (server mode, browser mode, status). Fast retries so reconnect tests stay short;
 * no metrics reports, no log output.
 */
import type { Test } from 'tap'
import type { ClientOptions, SwitchyardClient } from '../../sdk/types.js'
import { type SseTestServer, startSseTestServer } from './sse-test-server.js'

export interface TestClient {
  server: SseTestServer
  client: SwitchyardClient
}

/** `create` is the entry under test: `createClient` of `sdk/index.ts` (server mode) or of `sdk/browser.ts`. */
export async function clientAgainstTestServer(
  t: Test,
  create: (options: ClientOptions) => SwitchyardClient,
  document: object,
  opts: Partial<ClientOptions> = {},
): Promise<TestClient> {
  const server = await startSseTestServer({ document })
  t.teardown(() => server.close())
  const client = create({
    url: server.url,
    token: 'test-token',
    logger: {},
    initialRetryMs: 20,
    maxRetryMs: 100,
    sendMetrics: false,
    ...opts,
  })
  t.teardown(() => client.close())
  return { server, client }
}
