import type { Context } from 'hono';
import type { z } from 'zod';
import { ValidationError } from '../shared/errors.ts';

/** Parses a JSON body against a schema; every problem becomes one line of a 400 message. */
export async function parseJsonBody<Schema extends z.ZodType>(c: Context, schema: Schema): Promise<z.infer<Schema>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new ValidationError('BODY_INVALID_JSON', 'The request body is not valid JSON: send a JSON object with Content-Type: application/json.');
  }

  const result = schema.safeParse(body);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw new ValidationError('BODY_INVALID', `The request body is invalid: ${problems.join('; ')}.`, { details: { problems } });
  }
  return result.data;
}
