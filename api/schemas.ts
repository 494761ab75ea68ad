import { z } from 'zod';

/** Shared API schemas. */
export const ErrorSchema = z.object({ error: z.string().describe('Code, e.g. MDM_ERR_UNKNOWN_METER'), message: z.string(), details: z.unknown().optional() }).describe('Error');

/** Error responses every authenticated route may return. */
export const authErrors = { 401: ErrorSchema, 403: ErrorSchema } as const;

export const InstantQuery = z.string().describe('ISO-8601 instant with offset or Z');
