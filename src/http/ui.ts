/**
 * The admin page: the static files `npm run build` puts in dist/ui (scripts/build-ui.mjs), served at /ui/
 * with a Content-Security-Policy of its own, and `/` sending people there. The page calls only the public
 * REST API, with the bearer token its user typed in.
 */
import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'

/**
 * What the page may do, and nothing more: its own script and stylesheet, requests to its own origin (the API),
 * no inline script or style, no eval, no frames, no plugins, no form posts. Images: only the empty `data:`
 * favicon index.html names, so the browser does not ask the API for /favicon.ico.
 */
export const UI_CSP_DIRECTIVES = {
  'default-src': ["'none'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ['data:'],
  'connect-src': ["'self'"],
  'base-uri': ["'none'"],
  'form-action': ["'none'"],
  'frame-ancestors': ["'none'"],
  'object-src': ["'none'"],
} as const

/** The built page beside the compiled server (dist/src/http → dist/ui) or, from the sources, in dist/ui. */
export function defaultUiDir(): string {
  const up = fileURLToPath(new URL('../../', import.meta.url))
  return basename(up) === 'dist' ? join(up, 'ui') : join(up, 'dist', 'ui')
}

export async function registerUi(app: FastifyInstance, dir: string): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/ui/'))
  app.get('/ui', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/ui/', 301))
  if (!existsSync(join(dir, 'index.html'))) {
    app.log.warn(`the admin page is not built (${dir} has no index.html): run npm run build; /ui answers 404`)
    return
  }
  await app.register(async (scope) => {
    // Helmet reads a route's `config.helmet` per request: this CSP replaces the global one (which /docs needs).
    scope.addHook('onRoute', (route) => {
      route.config = {
        ...route.config,
        helmet: { contentSecurityPolicy: { useDefaults: false, directives: UI_CSP_DIRECTIVES } },
      } as NonNullable<typeof route.config>
    })
    await scope.register(fastifyStatic, {
      root: dir,
      prefix: '/ui/',
      decorateReply: false,
      // The script and stylesheet carry a content hash in their names (cached for a year); index.html names
      // the current ones, so it is revalidated on every load.
      cacheControl: false,
      setHeaders(res, path) {
        res.setHeader(
          'cache-control',
          /-[A-Z0-9]{8}\.(js|css)$/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache',
        )
      },
    })
  })
}
