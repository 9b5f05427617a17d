// The backend's one error model: {"error": {"code", "message", "details", "request_id"}}.

export interface FieldProblem {
  loc?: (string | number)[]
  msg?: string
  type?: string
}

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly details: unknown
  readonly requestId: string | null
  /** seconds, from Retry-After (rate limits, account lockout) */
  readonly retryAfter: number | null

  constructor(opts: {
    status: number
    code: string
    message: string
    details?: unknown
    requestId?: string | null
    retryAfter?: number | null
  }) {
    super(opts.message)
    this.name = 'ApiError'
    this.status = opts.status
    this.code = opts.code
    this.details = opts.details ?? null
    this.requestId = opts.requestId ?? null
    this.retryAfter = opts.retryAfter ?? null
  }

  /** Field errors keyed by the path inside the body or query: `phone`, `user_ids.2`. */
  fieldErrors(): Record<string, string> {
    const out: Record<string, string> = {}
    if (!Array.isArray(this.details)) return out
    for (const item of this.details as FieldProblem[]) {
      if (!item || !Array.isArray(item.loc) || item.loc.length === 0) continue
      const parts = ['body', 'query', 'path'].includes(String(item.loc[0]))
        ? item.loc.slice(1)
        : item.loc
      if (parts.length === 0) continue
      const key = parts.join('.')
      const msg = item.msg ?? ''
      out[key] = out[key] ? `${out[key]}; ${msg}` : msg
    }
    return out
  }
}

export const NETWORK_ERROR = 'network_error'

function retryAfterOf(response: Response): number | null {
  const raw = response.headers.get('Retry-After')
  if (!raw) return null
  const n = Number(raw)
  return Number.isFinite(n) ? n : null
}

/** Build an ApiError from a non-2xx response and its already-parsed body (if any). */
export function toApiError(response: Response, body: unknown): ApiError {
  const err = (body as { error?: Record<string, unknown> } | null)?.error
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    return new ApiError({
      status: response.status,
      code: err.code,
      message: typeof err.message === 'string' ? err.message : err.code,
      details: err.details,
      requestId: (err.request_id as string | null | undefined) ?? null,
      retryAfter: retryAfterOf(response),
    })
  }
  return new ApiError({
    status: response.status,
    code: response.status >= 500 ? 'internal_error' : `http_${response.status}`,
    message: response.statusText || `HTTP ${response.status}`,
    requestId: response.headers.get('X-Request-ID'),
    retryAfter: retryAfterOf(response),
  })
}

export function networkError(cause: unknown): ApiError {
  return new ApiError({
    status: 0,
    code: NETWORK_ERROR,
    message: cause instanceof Error ? cause.message : String(cause),
  })
}

export function isApiError(value: unknown): value is ApiError {
  return value instanceof ApiError
}
