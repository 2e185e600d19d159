import type { SwaggerTransform } from '@fastify/swagger'
import { type TObject, Type } from '@sinclair/typebox'
import type { FastifySchema } from 'fastify'

/**
 * The document-level parts of /openapi.json (the operations come from the
 * route schemas). Checked by Redocly's `recommended` rules in
 * test/integration/openapi-lint.test.ts.
 */
export const OPENAPI_DOCUMENT = {
  openapi: '3.0.3',
  info: {
    title: 'Switchyard',
    description:
      'Feature flags and whitelist rollouts. Every error is JSON `{ statusCode, code, message, details? }` with a stable code ' +
      '(README "Errors"); besides the statuses each operation lists, a connection can be refused with 408 `REQUEST_TIMEOUT` ' +
      'or 431 `HEADERS_TOO_LARGE` before any route runs, and 500 `INTERNAL` is a bug.',
    version: '1',
    license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    // The same repository as package.json's (issue 9 §6).
    contact: { name: 'Switchyard maintainers', url: 'https://github.com/switchyard/switchyard/issues' },
  },
  // Relative: the server that serves this document (a deployment has no fixed host name).
  servers: [{ url: '/', description: 'This server' }],
  tags: [
    {
      name: 'environments',
      description:
        'Environments (production, staging, …), their context-signing secrets, facts, connected applications and diffs',
    },
    {
      name: 'flags',
      description:
        'Flag definitions (global) and their configuration per environment: rules, whitelists, kill, toggle, history, rollback',
    },
    {
      name: 'segments',
      description: 'Reusable whitelists and rule sets per environment; members change by deltas of up to 100,000 ids',
    },
    { name: 'evaluate', description: 'Server-side evaluation with reasons: "why does this user see X?"' },
    { name: 'audit', description: 'Who changed what, when and why' },
    {
      name: 'tokens',
      description: 'API tokens: admin, editor, viewer, sdk-server, sdk-client, alerts, facts (admin only)',
    },
    {
      name: 'sdk',
      description: 'What the SDKs call: rules and values by stream (SSE) or polling, metrics reports, delivery status',
    },
    {
      name: 'alerts',
      description: "Alertmanager's webhook: firing alerts kill flags or halt plans, as each flag's alertPolicy says",
    },
    { name: 'operations', description: 'Liveness, readiness, Prometheus metrics, store re-initialisation' },
  ],
  components: {
    securitySchemes: {
      bearer: {
        type: 'http' as const,
        scheme: 'bearer',
        description: 'An API token: `Authorization: Bearer <secret>`',
      },
    },
  },
  security: [{ bearer: [] }],
}

/**
 * How a route is documented where that differs on purpose from what Fastify
 * validates or serializes (a route-level `config.swaggerTransform`: it changes
 * /openapi.json only, never a request). Used for a header that is optional to
 * the validator so that its absence gets a catalogue code (428) rather than
 * a 400, a body whose text/plain form the route converts before validation,
 * and streams whose errors are JSON while their success is text/event-stream.
 */
export function documentedAs(patch: (schema: FastifySchema) => FastifySchema): SwaggerTransform {
  return ({ schema, url }) => ({ schema: patch(schema), url })
}

/**
 * How a stream route is documented: success is text/event-stream (the route writes the frames itself), errors are
 * JSON. `produces` stays on the route schema for the edge (no helmet on streams): in the document it would give
 * the errors that media type too.
 */
export function eventStream(example: string, headers?: TObject): SwaggerTransform {
  return documentedAs(({ produces: _sse, ...schema }) => ({
    ...schema,
    ...(headers && { headers }),
    response: {
      ...(schema.response as object),
      200: {
        description: 'The event stream (never ends while the server runs)',
        content: { 'text/event-stream': { schema: Type.String(), example } },
      },
    },
  }))
}
