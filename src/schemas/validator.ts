import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Value } from '@sinclair/typebox/value'
import type { FastifySchemaCompiler } from 'fastify'

FormatRegistry.Set('date', (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v)))

/**
 * Route validation with TypeBox: bodies are checked strictly (no type
 * coercion: `"add": "u1"` is not an array), while query strings, params and
 * headers — always strings on the wire — are converted and get their defaults.
 */
export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema)
  const strict = httpPart === 'body'
  return (input: unknown) => {
    const value = strict ? input : Value.Convert(schema, Value.Default(schema, Value.Clone(input ?? {})))
    if (check.Check(value)) return { value }
    const error = [...check.Errors(value)].slice(0, 50).map((e) => ({
      keyword: 'typebox',
      instancePath: e.path,
      schemaPath: '',
      params: {},
      message: e.message,
    }))
    return {
      error: Object.assign(new Error(error.map((e) => `${e.instancePath} ${e.message}`).join('; ')), {
        validation: error,
      }),
    }
  }
}
