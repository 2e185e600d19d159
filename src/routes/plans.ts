import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorize } from '../auth.js'
import { BODY_ERRORS, EnvParams, errorResponses, Key } from '../schemas/common.js'
import { CreatePlanBody, PassedPointSchema, PLAN_STATUSES, PlanActionBody, PlanSchema } from '../schemas/plan.js'
import type { Services } from '../services/index.js'

const PlanParams = Type.Object(
  { env: Key, id: Type.String({ pattern: '^pl_[0-9a-f]{1,64}$', description: 'The plan id (`pl_…`)' }) },
  { additionalProperties: false },
)

/** Release plans of one environment: thin routes over PlanService (src/services/plans.ts). */
const routes: FastifyPluginAsyncTypebox<{ services: Services }> = async (app, { services }) => {
  app.addSchema(PassedPointSchema)
  app.addSchema(PlanSchema)
  const tags = ['plans']
  const planRef = Type.Ref(PlanSchema, { description: 'The plan and its state' })

  app.get(
    '/api/v1/environments/:env/plans',
    {
      schema: {
        operationId: 'listPlans',
        tags,
        params: EnvParams,
        summary: 'List release plans',
        description:
          'Every release plan of this environment, oldest first, optionally of one flag or in one status; scheduled changes are the one-step plans with a `startAt`.',
        querystring: Type.Object(
          {
            flag: Type.Optional(Key),
            status: Type.Optional(Type.Union(PLAN_STATUSES.map((s) => Type.Literal(s)))),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Type.Ref(PlanSchema)) }, { description: 'The plans' }),
          ...errorResponses(404),
        },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      return {
        items: await services.plans.list(req.params.env, {
          ...(req.query.flag !== undefined && { flag: req.query.flag }),
          ...(req.query.status !== undefined && { status: req.query.status }),
        }),
      }
    },
  )

  app.post(
    '/api/v1/environments/:env/plans',
    {
      schema: {
        operationId: 'createPlan',
        tags,
        params: EnvParams,
        body: CreatePlanBody,
        summary: 'Create a release plan',
        description:
          'A plan for one flag: ordered steps (a `serve` or a whole `config`), each held for a duration or until approved, optional Prometheus guards and points of no return. A draft until started (`start: true` starts it at once). Every step is validated against the flag now; 400 GUARDS_UNAVAILABLE when it has guards and PROMETHEUS_URL is not set.',
        response: { 201: planRef, ...errorResponses(404, 409, ...BODY_ERRORS) },
      },
    },
    async (req, reply) => {
      const actor = authorize(req, 'write', req.params.env)
      return reply.code(201).send(await services.plans.create(req.params.env, req.body, actor))
    },
  )

  app.get(
    '/api/v1/environments/:env/plans/:id',
    {
      schema: {
        operationId: 'getPlan',
        tags,
        params: PlanParams,
        summary: 'Get a release plan',
        description:
          'The plan and its state: status, current step, when the next is due, what it waits for, why it paused, the latest guard readings and its history of decisions.',
        response: { 200: planRef, ...errorResponses(404) },
      },
    },
    async (req) => {
      authorize(req, 'read', req.params.env)
      return services.plans.get(req.params.env, req.params.id)
    },
  )

  const actions = [
    {
      name: 'start',
      summary: 'Start a release plan',
      description:
        'Starts a draft: the first step is applied at once (or at `startAt`). 409 PLAN_ACTIVE when the flag already has a started plan.',
      run: services.plans.start.bind(services.plans),
    },
    {
      name: 'pause',
      summary: 'Pause a release plan',
      description: 'Holds a running or waiting plan at its current step until resumed; guards stop being read.',
      run: services.plans.pause.bind(services.plans),
    },
    {
      name: 'resume',
      summary: 'Resume a paused release plan',
      description:
        'Continues a paused plan (by a person, a guard, an alert or an edit of the flag); the flag as it is now becomes the base of its next step. Guards are read again before anything advances.',
      run: services.plans.resume.bind(services.plans),
    },
    {
      name: 'approve',
      summary: 'Approve the next step',
      description:
        'Lets the next step happen now: the one waiting for approval, or (while a step is held) the next one without waiting out its hold. Before a point of no return a `reason` is required (400 REASON_REQUIRED); who and why are audited and shown with the flag.',
      run: services.plans.approve.bind(services.plans),
    },
    {
      name: 'abort',
      summary: 'Abort a release plan',
      description:
        'Ends the plan (a scheduled change: cancels it). The flag keeps the configuration it has; roll it back with POST …/rollback if needed.',
      run: services.plans.abort.bind(services.plans),
    },
  ] as const
  for (const a of actions) {
    app.post(
      `/api/v1/environments/:env/plans/:id/${a.name}`,
      {
        schema: {
          operationId: `${a.name}Plan`,
          tags,
          params: PlanParams,
          body: PlanActionBody,
          summary: a.summary,
          description: `${a.description} 409 PLAN_STATE when the plan is in a status that does not allow it. Audited.`,
          response: { 200: planRef, ...errorResponses(404, 409, ...BODY_ERRORS) },
        },
      },
      async (req) => {
        const actor = authorize(req, 'write', req.params.env)
        return a.run(req.params.env, req.params.id, req.body?.reason, actor)
      },
    )
  }
}

export default routes
